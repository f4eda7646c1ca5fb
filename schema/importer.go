package schema

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"

	"github.com/google/go-jsonnet"
)

// The library's reference, docs/library.md, is generated from its doc
// comments.
//go:generate go run ./cmd/libdoc

//go:embed lib/*.libsonnet
var libFS embed.FS

// LibPrefix is where Rensei's embedded Jsonnet library appears to imports:
// `import 'rensei.libsonnet'` resolves to it when the repository has no file
// of that name on its import path; error messages name it "@rensei/…".
const LibPrefix = "@rensei/"

// importer resolves Jsonnet imports inside one revision of a config
// repository (any fs.FS: a directory or a Git tree), Tanka style: relative
// to the importing file, then lib/, then vendor/, then the embedded library.
// Contents are cached so the same path always yields the same object, as
// go-jsonnet requires.
type importer struct {
	fsys fs.FS

	mu    sync.Mutex
	cache map[string]*cached
	files map[string][]byte // everything read, for error line lookup
}

type cached struct {
	contents jsonnet.Contents
	err      error
}

// NewImporter returns the importer the loader uses, for tools (lint) that
// run their own VM over a repository.
func NewImporter(fsys fs.FS) jsonnet.Importer { return newImporter(fsys) }

func newImporter(fsys fs.FS) *importer {
	return &importer{fsys: fsys, cache: map[string]*cached{}, files: map[string][]byte{}}
}

// Import implements jsonnet.Importer.
func (im *importer) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	if path.IsAbs(importedPath) {
		return jsonnet.Contents{}, "", fmt.Errorf("import %q: absolute paths are not allowed in a config repository", importedPath)
	}
	var candidates []string
	if importedFrom != "" {
		candidates = append(candidates, path.Join(path.Dir(importedFrom), importedPath))
	} else {
		candidates = append(candidates, path.Clean(importedPath))
	}
	candidates = append(candidates, path.Join("lib", importedPath), path.Join("vendor", importedPath), LibPrefix+path.Clean(importedPath))
	for _, c := range candidates {
		if strings.HasPrefix(c, "..") {
			continue // never leave the repository
		}
		got := im.read(c)
		if errors.Is(got.err, fs.ErrNotExist) {
			continue
		}
		return got.contents, c, got.err
	}
	return jsonnet.Contents{}, "", fmt.Errorf("import %q: not found (looked in %s)", importedPath, strings.Join(candidates, ", "))
}

func (im *importer) read(name string) *cached {
	im.mu.Lock()
	defer im.mu.Unlock()
	if c, ok := im.cache[name]; ok {
		return c
	}
	var data []byte
	var err error
	if rest, ok := strings.CutPrefix(name, LibPrefix); ok {
		data, err = fs.ReadFile(libFS, "lib/"+rest)
	} else {
		data, err = fs.ReadFile(im.fsys, name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			if why := leavingLink(im.fsys, name); why != "" {
				err = errors.New(why)
			}
		}
	}
	c := &cached{err: err}
	if err == nil {
		c.contents = jsonnet.MakeContentsRaw(data)
		im.files[name] = data
	}
	im.cache[name] = c
	return c
}

// source returns the content of a file read so far (nil when never read).
func (im *importer) source(name string) []byte {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.files[name]
}

// leavingLink says which symbolic link on the way to name leaves the
// repository, or "": the same words whether the repository is a directory
// (os.Root refuses such a link) or a Git tree. Links that stay inside the
// repository are followed (jsonnet-bundler's vendor/ layout is made of
// them).
func leavingLink(fsys fs.FS, name string) string {
	parts := strings.Split(name, "/")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		fi, err := fs.Lstat(fsys, prefix)
		if err != nil {
			return ""
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		target, err := fs.ReadLink(fsys, prefix)
		if err != nil {
			return ""
		}
		if next := path.Join(path.Dir(prefix), target); path.IsAbs(target) || next == ".." || strings.HasPrefix(next, "../") {
			return fmt.Sprintf("%s is a symbolic link to %s, outside the repository: links in a config repository must stay inside it", prefix, target)
		}
	}
	return ""
}
