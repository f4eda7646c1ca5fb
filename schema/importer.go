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
