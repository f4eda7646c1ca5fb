package gitrepo

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// writeBlob stores content as a blob and returns its hash.
func writeBlob(s storer.EncodedObjectStorer, content []byte) (plumbing.Hash, error) {
	obj := s.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(content)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(content); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

// readBlob returns the content of the file at path in tree, or nil when
// there is none.
func readBlob(s storer.EncodedObjectStorer, tree plumbing.Hash, path string) ([]byte, error) {
	if tree.IsZero() {
		return nil, nil
	}
	t, err := object.GetTree(s, tree)
	if err != nil {
		return nil, err
	}
	f, err := t.File(path)
	if err != nil {
		return nil, nil // absent
	}
	r, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// setFiles returns the hash of the tree that is base (ZeroHash: empty)
// with the given files (slash-separated paths) added or replaced. Only the
// trees on the paths to those files are rewritten; every other entry is
// kept as it is.
func setFiles(s storer.EncodedObjectStorer, base plumbing.Hash, files map[string][]byte) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	if !base.IsZero() {
		t, err := object.GetTree(s, base)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("tree %s: %w", base, err)
		}
		entries = append(entries, t.Entries...)
	}
	index := map[string]int{}
	for i, e := range entries {
		index[e.Name] = i
	}
	put := func(e object.TreeEntry) {
		if i, ok := index[e.Name]; ok {
			entries[i] = e
			return
		}
		index[e.Name] = len(entries)
		entries = append(entries, e)
	}
	subs := map[string]map[string][]byte{}
	for path, content := range files {
		dir, rest, nested := strings.Cut(path, "/")
		if !nested {
			h, err := writeBlob(s, content)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			put(object.TreeEntry{Name: path, Mode: filemode.Regular, Hash: h})
			continue
		}
		if subs[dir] == nil {
			subs[dir] = map[string][]byte{}
		}
		subs[dir][rest] = content
	}
	for dir, sub := range subs {
		subBase := plumbing.ZeroHash
		if i, ok := index[dir]; ok && entries[i].Mode == filemode.Dir {
			subBase = entries[i].Hash
		}
		h, err := setFiles(s, subBase, sub)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		put(object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: h})
	}
	// Git orders entries by name, a directory's name as if it ended in "/".
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(entries, func(i, j int) bool { return key(entries[i]) < key(entries[j]) })
	obj := s.NewEncodedObject()
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

// writeCommit stores a commit object and returns its hash.
func writeCommit(s storer.EncodedObjectStorer, c *object.Commit) (plumbing.Hash, error) {
	obj := s.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}
