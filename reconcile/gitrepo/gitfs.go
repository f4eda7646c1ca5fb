package gitrepo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// treeFS is a read-only fs.FS over a Git tree object. Symbolic links are
// followed as a directory repository (os.Root) follows them: a link's
// blob is its target, resolved from the link's directory, and a link that
// leaves the tree (an absolute target, or one with too many ..) is an
// error naming it. It also implements fs.ReadLinkFS.
type treeFS struct {
	root *object.Tree
	when time.Time
}

// maxLinks bounds the links followed in one path (as Linux's 40).
const maxLinks = 40

// ErrLinkLeaves marks a symbolic link whose target is outside the tree.
var ErrLinkLeaves = errors.New("is a symbolic link that leaves the repository")

func (t *treeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	real, entry, err := t.resolve(name, true)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if entry == nil || entry.Mode == filemode.Dir {
		tree := t.root
		if entry != nil {
			if tree, err = t.root.Tree(real); err != nil {
				return nil, &fs.PathError{Op: "open", Path: name, Err: err}
			}
		}
		return &treeDir{fs: t, name: name, tree: tree}, nil
	}
	if entry.Mode == filemode.Submodule {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("is a submodule; Rensei reads no submodules")}
	}
	f, err := t.root.TreeEntryFile(entry)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	r, err := f.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &treeFile{name: name, size: f.Size, mode: entry.Mode, when: t.when, r: r}, nil
}

// resolve finds the entry name denotes, following the symbolic links of
// its directories, and of itself when last is set. It returns the path
// without links and the entry (nil for the root).
func (t *treeFS) resolve(name string, last bool) (string, *object.TreeEntry, error) {
	if name == "." {
		return ".", nil, nil
	}
	links := 0
	parts := strings.Split(name, "/")
	dir := ""
	for i := 0; i < len(parts); i++ {
		cur := path.Join(dir, parts[i])
		entry, err := t.root.FindEntry(cur)
		if err != nil {
			return "", nil, fs.ErrNotExist
		}
		if entry.Mode != filemode.Symlink || (i == len(parts)-1 && !last) {
			if i < len(parts)-1 && entry.Mode != filemode.Dir {
				return "", nil, fs.ErrNotExist
			}
			if i == len(parts)-1 {
				return cur, entry, nil
			}
			dir = cur
			continue
		}
		if links++; links > maxLinks {
			return "", nil, fmt.Errorf("%s: too many levels of symbolic links", cur)
		}
		target, err := t.linkTarget(entry)
		if err != nil {
			return "", nil, err
		}
		next := path.Join(path.Dir(cur), target)
		if path.IsAbs(target) || next == ".." || strings.HasPrefix(next, "../") {
			return "", nil, fmt.Errorf("%s %w (it points to %s)", cur, ErrLinkLeaves, target)
		}
		// Start again from the target followed by what is left.
		rest := append(strings.Split(next, "/"), parts[i+1:]...)
		if next == "." {
			rest = parts[i+1:]
		}
		if len(rest) == 0 {
			return ".", nil, nil
		}
		parts, dir, i = rest, "", -1
	}
	return "", nil, fs.ErrNotExist
}

// linkTarget reads a symbolic link's target from its blob.
func (t *treeFS) linkTarget(entry *object.TreeEntry) (string, error) {
	f, err := t.root.TreeEntryFile(entry)
	if err != nil {
		return "", err
	}
	return f.Contents()
}

// Lstat implements fs.ReadLinkFS: a symbolic link itself, not its target.
func (t *treeFS) Lstat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrInvalid}
	}
	_, entry, err := t.resolve(name, false)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	if entry == nil {
		return entryInfo{name: ".", mode: filemode.Dir, when: t.when}, nil
	}
	return entryInfo{name: path.Base(name), mode: entry.Mode, when: t.when}, nil
}

// ReadLink implements fs.ReadLinkFS: the target a symbolic link names.
func (t *treeFS) ReadLink(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	_, entry, err := t.resolve(name, false)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	if entry == nil || entry.Mode != filemode.Symlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	target, err := t.linkTarget(entry)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return target, nil
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
