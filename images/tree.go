// Package images builds Rensei's own container images from Debian packages,
// with no image registry: the base image rensei/base:<suite> comes from
// mmdebstrap and the Docker API's image import, and every other directory of
// this tree that holds a Dockerfile is built FROM it (or FROM another image of
// the tree) through the Docker API, parents first. Builds are cached by a
// content hash kept in each image's labels, so building again is cheap. Copy
// moves a built image from one engine to another and checks its ID.
package images

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// tree is this directory as compiled into the binary: every image directory
// (and, harmlessly, the build command's source).
//
//go:embed */*
var tree embed.FS

// Labels every image built here carries.
const (
	LabelName = "io.rensei.image.name" // the image's directory name
	LabelHash = "io.rensei.image.hash" // ContentHash: the build cache key
	// LabelDebianDate is the newest InRelease Date of the archive the image's
	// packages came from (RFC 3339); the base uses it as SOURCE_DATE_EPOCH.
	LabelDebianDate = "io.rensei.image.debian.date"
	// LabelDebianRelease prefixes one label per suite: its InRelease Date.
	LabelDebianRelease = "io.rensei.image.debian.release."
	LabelDebianSuite   = "io.rensei.image.debian.suite"
)

// PackagesPath is where every image lists its Debian packages, one
// "name<whitespace>version" a line (dpkg-query -W).
const PackagesPath = "/usr/share/rensei/packages.txt"

// BaseName is the directory of the base image. It has no Dockerfile: its
// sources.list names the suite, packages the extra packages, and
// customize.sh, apt.conf and dpkg.cfg how mmdebstrap makes it.
const BaseName = "base"

// Image is one image of a tree.
type Image struct {
	Name    string   // directory name
	Tag     string   // rensei/base:<suite> for the base, rensei/<name>:latest otherwise
	Parents []string // names of the tree's images it is built FROM, sorted
	// Hash covers every file of the directory (path, mode, content), the
	// parents' hashes and, for the base, how it is bootstrapped.
	Hash  string
	files []file
}

type file struct {
	path string // slash-separated, relative to the image directory
	mode int64
	data []byte
}

// Tree is a parsed image tree: its images in build order.
type Tree struct {
	images []*Image // parents before children; otherwise by name
	byName map[string]*Image
}

// Load reads an image tree: fsys holds one directory per image. A directory
// is an image when it holds a Dockerfile, or when it is BaseName; others are
// ignored. Errors name the Dockerfile and line.
func Load(fsys fs.FS) (*Tree, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	t := &Tree{byName: map[string]*Image{}}
	var base *Image
	var dirs []*Image
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		files, err := readDir(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("images: %s: %w", name, err)
		}
		img := &Image{Name: name, files: files}
		if name == BaseName {
			base = img
			continue
		}
		if img.file("Dockerfile") == nil {
			continue
		}
		dirs = append(dirs, img)
	}
	if base != nil {
		suite, err := base.suite()
		if err != nil {
			return nil, err
		}
		base.Tag = "rensei/base:" + suite
		t.byName[base.Name] = base
	}
	for _, img := range dirs {
		img.Tag = "rensei/" + img.Name + ":latest"
		t.byName[img.Name] = img
	}
	byTag := map[string]*Image{}
	for _, img := range t.byName {
		byTag[img.Tag] = img
	}
	for _, img := range dirs {
		parents, err := parseFrom(img.Name, img.file("Dockerfile").data, byTag)
		if err != nil {
			return nil, err
		}
		img.Parents = parents
	}
	if err := t.order(); err != nil {
		return nil, err
	}
	for _, img := range t.images {
		img.Hash = img.contentHash(t.byName)
	}
	return t, nil
}

// Images returns the tree's images in build order: every image after the
// images it is built FROM.
func (t *Tree) Images() []*Image { return append([]*Image(nil), t.images...) }

// Tags returns the tag of every image of the tree, in build order.
func (t *Tree) Tags() []string {
	tags := make([]string, len(t.images))
	for i, img := range t.images {
		tags[i] = img.Tag
	}
	return tags
}

// Image returns the image named name (a directory name or a tag), or nil.
func (t *Tree) Image(name string) *Image {
	if img, ok := t.byName[name]; ok {
		return img
	}
	for _, img := range t.images {
		if img.Tag == name || img.Tag == name+":latest" {
			return img
		}
	}
	return nil
}

// Closure returns the named images (directory names or tags) and every image
// they are built FROM, in build order; no names means the whole tree.
func (t *Tree) Closure(names ...string) ([]*Image, error) {
	if len(names) == 0 {
		return t.Images(), nil
	}
	want := map[string]bool{}
	var visit func(img *Image)
	visit = func(img *Image) {
		if want[img.Name] {
			return
		}
		want[img.Name] = true
		for _, p := range img.Parents {
			visit(t.byName[p])
		}
	}
	for _, n := range names {
		img := t.Image(n)
		if img == nil {
			return nil, fmt.Errorf("images: no image %q (have %s)", n, strings.Join(t.names(), ", "))
		}
		visit(img)
	}
	var out []*Image
	for _, img := range t.images {
		if want[img.Name] {
			out = append(out, img)
		}
	}
	return out, nil
}

func (t *Tree) names() []string {
	var names []string
	for _, img := range t.images {
		names = append(names, img.Name)
	}
	return names
}

// order sorts the images topologically (Kahn), taking the alphabetically
// first ready image each time, so the order is deterministic.
func (t *Tree) order() error {
	done := map[string]bool{}
	var names []string
	for n := range t.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for len(t.images) < len(names) {
		progressed := false
		for _, n := range names {
			if done[n] {
				continue
			}
			img := t.byName[n]
			ready := true
			for _, p := range img.Parents {
				if !done[p] {
					ready = false
					break
				}
			}
			if ready {
				done[n] = true
				t.images = append(t.images, img)
				progressed = true
				break
			}
		}
		if !progressed {
			var stuck []string
			for _, n := range names {
				if !done[n] {
					stuck = append(stuck, n)
				}
			}
			return fmt.Errorf("images: FROM cycle among %s", strings.Join(stuck, ", "))
		}
	}
	return nil
}

// parseFrom returns the tree images a Dockerfile is built FROM. An image
// outside rensei/ (scratch, or one already on the engine) is not a parent; a
// rensei/ image that no directory builds is an error.
func parseFrom(name string, dockerfile []byte, byTag map[string]*Image) ([]string, error) {
	seen := map[string]bool{}
	stages := map[string]bool{}
	for i, line := range strings.Split(string(dockerfile), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.EqualFold(fields[0], "FROM") {
			continue
		}
		args := fields[1:]
		for len(args) > 0 && strings.HasPrefix(args[0], "--") {
			args = args[1:]
		}
		if len(args) == 0 {
			return nil, fmt.Errorf("%s/Dockerfile:%d: FROM without an image", name, i+1)
		}
		ref := args[0]
		if len(args) >= 3 && strings.EqualFold(args[1], "AS") {
			stages[strings.ToLower(args[2])] = true
		}
		if stages[strings.ToLower(ref)] && !strings.Contains(ref, "/") {
			continue
		}
		if !strings.HasPrefix(ref, "rensei/") {
			continue
		}
		if !strings.Contains(path.Base(ref), ":") {
			ref += ":latest"
		}
		parent, ok := byTag[ref]
		if !ok {
			return nil, fmt.Errorf("%s/Dockerfile:%d: FROM %s: no directory of the image tree builds it", name, i+1, args[0])
		}
		if parent.Name == name {
			return nil, fmt.Errorf("%s/Dockerfile:%d: FROM %s: an image cannot be built FROM itself", name, i+1, args[0])
		}
		seen[parent.Name] = true
	}
	parents := make([]string, 0, len(seen))
	for p := range seen {
		parents = append(parents, p)
	}
	sort.Strings(parents)
	return parents, nil
}

// readDir returns every regular file under dir, sorted by path. A file is
// executable in the image when it starts with "#!": embedded files carry no
// mode, and the hash and the build context must agree wherever they come from.
func readDir(fsys fs.FS, dir string) ([]file, error) {
	var files []file
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		mode := int64(0o644)
		if bytes.HasPrefix(data, []byte("#!")) {
			mode = 0o755
		}
		files = append(files, file{path: strings.TrimPrefix(p, dir+"/"), mode: mode, data: data})
		return nil
	})
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	return files, err
}

func (img *Image) file(p string) *file {
	for i := range img.files {
		if img.files[i].path == p {
			return &img.files[i]
		}
	}
	return nil
}

// lines returns a base file's lines without comments and blank lines.
func (img *Image) lines(p string) []string {
	f := img.file(p)
	if f == nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(f.data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// source is one line of the base's sources.list.
type source struct {
	line  string // the whole line, as mmdebstrap takes it
	uri   string
	suite string
}

func (img *Image) sources() ([]source, error) {
	var out []source
	for _, l := range img.lines("sources.list") {
		f := strings.Fields(l)
		if len(f) < 4 || f[0] != "deb" || strings.HasPrefix(f[1], "[") {
			return nil, fmt.Errorf("images: %s/sources.list: %q: want \"deb URI SUITE COMPONENT...\"", img.Name, l)
		}
		out = append(out, source{line: l, uri: strings.TrimSuffix(f[1], "/"), suite: f[2]})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("images: %s/sources.list: no deb line", img.Name)
	}
	return out, nil
}

func (img *Image) suite() (string, error) {
	src, err := img.sources()
	if err != nil {
		return "", err
	}
	return src[0].suite, nil
}

// contentHash is the cache key: a new hash means a new build. The base's hash
// also covers the bootstrap recipe compiled into this package.
func (img *Image) contentHash(byName map[string]*Image) string {
	h := sha256.New()
	if img.Name == BaseName {
		fmt.Fprintf(h, "rensei base v1\n%s\n", strings.Join(baseRecipe(), "\n"))
	} else {
		fmt.Fprintf(h, "rensei image v1\n")
	}
	for _, p := range img.Parents {
		fmt.Fprintf(h, "parent %s %s\n", p, byName[p].Hash)
	}
	for _, f := range img.files {
		fmt.Fprintf(h, "file %s %o %d\n", strconv.Quote(f.path), f.mode, len(f.data))
		h.Write(f.data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

var embedded struct {
	once sync.Once
	tree *Tree
	err  error
}

// Embedded returns the image tree compiled into this package.
func Embedded() (*Tree, error) {
	embedded.once.Do(func() { embedded.tree, embedded.err = Load(tree) })
	return embedded.tree, embedded.err
}

// Tags returns the tag of every image compiled into this package, in build
// order, or nil when the compiled tree does not parse (Embedded says why).
func Tags() []string {
	t, err := Embedded()
	if err != nil {
		return nil
	}
	return t.Tags()
}
