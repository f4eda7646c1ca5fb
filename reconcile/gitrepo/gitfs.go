package gitrepo

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// treeFS is a read-only fs.FS over a Git tree object.
type treeFS struct {
	root *object.Tree
	when time.Time
}

func (t *treeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &treeDir{fs: t, name: ".", tree: t.root}, nil
	}
	entry, err := t.root.FindEntry(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if entry.Mode == filemode.Dir {
		sub, err := t.root.Tree(name)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &treeDir{fs: t, name: name, tree: sub}, nil
	}
	if entry.Mode == filemode.Symlink {
		// Never followed: a link could point outside the revision, and a
		// directory repository (os.Root) refuses the same links.
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("is a symbolic link; Rensei does not follow links in a config repository")}
	}
	if entry.Mode == filemode.Submodule {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("is a submodule; Rensei reads no submodules")}
	}
	f, err := t.root.File(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	r, err := f.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &treeFile{name: name, size: f.Size, mode: entry.Mode, when: t.when, r: r}, nil
}

// ReadDir implements fs.ReadDirFS so fs.WalkDir and fs.Glob read tree
// objects directly.
func (t *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := t.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, ok := f.(*treeDir)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return d.ReadDir(-1)
}

type treeFile struct {
	name string
	size int64
	mode filemode.FileMode
	when time.Time
	r    io.ReadCloser
}

func (f *treeFile) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *treeFile) Close() error               { return f.r.Close() }
func (f *treeFile) Stat() (fs.FileInfo, error) {
	return entryInfo{name: path.Base(f.name), size: f.size, mode: f.mode, when: f.when}, nil
}

type treeDir struct {
	fs   *treeFS
	name string
	tree *object.Tree
	read int
}

func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}
func (d *treeDir) Close() error { return nil }
func (d *treeDir) Stat() (fs.FileInfo, error) {
	return entryInfo{name: path.Base(d.name), mode: filemode.Dir, when: d.fs.when}, nil
}

func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	entries := d.tree.Entries[d.read:]
	if n > 0 && len(entries) > n {
		entries = entries[:n]
	}
	out := make([]fs.DirEntry, 0, len(entries))
	for _, e := range entries {
		size := int64(0)
		if e.Mode.IsFile() {
			if f, err := d.tree.TreeEntryFile(&e); err == nil {
				size = f.Size
			}
		}
		out = append(out, fs.FileInfoToDirEntry(entryInfo{name: e.Name, size: size, mode: e.Mode, when: d.fs.when}))
	}
	d.read += len(entries)
	if n > 0 && len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

type entryInfo struct {
	name string
	size int64
	mode filemode.FileMode
	when time.Time
}

func (e entryInfo) Name() string       { return e.name }
func (e entryInfo) Size() int64        { return e.size }
func (e entryInfo) ModTime() time.Time { return e.when }
func (e entryInfo) IsDir() bool        { return e.mode == filemode.Dir }
func (e entryInfo) Sys() any           { return nil }
func (e entryInfo) Mode() fs.FileMode {
	if e.mode == filemode.Dir {
		return fs.ModeDir | 0o755
	}
	if e.mode == filemode.Symlink {
		return fs.ModeSymlink | 0o777
	}
	if e.mode == filemode.Executable {
		return 0o755
	}
	return 0o644
}
