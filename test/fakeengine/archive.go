package fakeengine

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
)

// maxUpload bounds one archive uploaded into a container.
const maxUpload = 64 << 20

// file is one entry of a container's filesystem. The filesystem holds only
// what archives put there (and the parent directories they imply): any
// other directory is taken to exist when it is the target of an upload.
type file struct {
	dir   bool
	mode  int64
	data  []byte
	link  string
	mtime time.Time
}

// copyTo serves PUT /containers/{id}/archive?path=: the tar is unpacked
// below path, creating missing parents (0755). Path must not name a file
// (400 "extraction point is not a directory"); with noOverwriteDirNonDir a
// file may not replace a directory nor the reverse, as dockerd.
func (e *Engine) copyTo(w http.ResponseWriter, r *http.Request, term string) error {
	p := r.URL.Query().Get("path")
	if p == "" {
		return errInvalid("Path cannot be empty")
	}
	noOverwrite := boolParam(r, "noOverwriteDirNonDir")
	type entry struct {
		hdr  *tar.Header
		data []byte
	}
	var entries []entry
	tr := tar.NewReader(io.LimitReader(r.Body, maxUpload))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errInvalid("fakeengine: archive: %v", err)
		}
		var data []byte
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			// Exactly sized: the model keeps it for as long as the container.
			data = make([]byte, hdr.Size)
			if _, err := io.ReadFull(tr, data); err != nil {
				return errInvalid("fakeengine: archive: %v", err)
			}
		}
		entries = append(entries, entry{hdr, data})
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(term)
	if err != nil {
		return err
	}
	dest := path.Clean("/" + p)
	if f, ok := c.files[dest]; ok && !f.dir {
		return errInvalid("extraction point is not a directory")
	}
	for _, en := range entries {
		name := path.Join(dest, path.Clean("/"+en.hdr.Name))
		if name == "/" {
			continue
		}
		nf := &file{mode: en.hdr.Mode, mtime: en.hdr.ModTime}
		switch en.hdr.Typeflag {
		case tar.TypeDir:
			nf.dir = true
		case tar.TypeSymlink:
			nf.link = en.hdr.Linkname
		case tar.TypeReg:
			nf.data = en.data
		default:
			continue
		}
		if old, ok := c.files[name]; ok && noOverwrite && old.dir != nf.dir {
			if old.dir {
				return errInvalid("cannot overwrite directory %q with non-directory %q", name, en.hdr.Name)
			}
			return errInvalid("cannot overwrite non-directory %q with directory %q", name, en.hdr.Name)
		}
		for dir := path.Dir(name); dir != "/"; dir = path.Dir(dir) {
			if _, ok := c.files[dir]; !ok {
				c.files[dir] = &file{dir: true, mode: 0o755, mtime: nf.mtime}
			}
		}
		c.files[name] = nf
	}
	e.emitContainer(c, events.ActionExtractToDir, nil)
	writeOK(w)
	return nil
}

// lookupPath finds p in c's filesystem: a file, an explicit directory, or
// an implied one (an ancestor of a file, or "/"). e.mu must be held.
func lookupPath(c *ctr, p string) (*file, bool) {
	if f, ok := c.files[p]; ok {
		return f, true
	}
	if p == "/" {
		return &file{dir: true, mode: 0o755}, true
	}
	prefix := p + "/"
	for name := range c.files {
		if strings.HasPrefix(name, prefix) {
			return &file{dir: true, mode: 0o755}, true
		}
	}
	return nil, false
}

// pathStat encodes the X-Docker-Container-Path-Stat header.
func pathStat(p string, f *file) string {
	mode := fs.FileMode(f.mode) & fs.ModePerm
	switch {
	case f.dir:
		mode |= fs.ModeDir
	case f.link != "":
		mode |= fs.ModeSymlink
	}
	b, _ := json.Marshal(container.PathStat{Name: path.Base(p), Size: int64(len(f.data)), Mode: mode, Mtime: f.mtime, LinkTarget: f.link})
	return base64.StdEncoding.EncodeToString(b)
}

// statPath serves HEAD /containers/{id}/archive?path=.
func (e *Engine) statPath(w http.ResponseWriter, r *http.Request, term string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(term)
	if err != nil {
		return err
	}
	p := path.Clean("/" + r.URL.Query().Get("path"))
	f, ok := lookupPath(c, p)
	if !ok {
		return errNotFound("Could not find the file %s in container %s", p, term)
	}
	w.Header().Set("X-Docker-Container-Path-Stat", pathStat(p, f))
	writeOK(w)
	return nil
}

// copyFrom serves GET /containers/{id}/archive?path=: a tar of the file, or
// of the directory and everything below it, named from the path's base.
func (e *Engine) copyFrom(w http.ResponseWriter, r *http.Request, term string) error {
	e.mu.Lock()
	c, err := e.findContainer(term)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	p := path.Clean("/" + r.URL.Query().Get("path"))
	f, ok := lookupPath(c, p)
	if !ok {
		e.mu.Unlock()
		return errNotFound("Could not find the file %s in container %s", p, term)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	base := path.Base(p)
	add := func(name string, f *file) {
		hdr := &tar.Header{Name: name, Mode: f.mode, ModTime: f.mtime, Typeflag: tar.TypeReg, Size: int64(len(f.data))}
		switch {
		case f.dir:
			hdr.Typeflag, hdr.Name, hdr.Size = tar.TypeDir, name+"/", 0
		case f.link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeSymlink, f.link, 0
		}
		_ = tw.WriteHeader(hdr)
		if hdr.Typeflag == tar.TypeReg {
			_, _ = tw.Write(f.data)
		}
	}
	add(base, f)
	if f.dir {
		prefix := strings.TrimSuffix(p, "/") + "/"
		var names []string
		for name := range c.files {
			if strings.HasPrefix(name, prefix) {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			add(path.Join(base, strings.TrimPrefix(name, prefix)), c.files[name])
		}
	}
	stat := pathStat(p, f)
	e.emitContainer(c, events.ActionArchivePath, nil)
	e.mu.Unlock()
	_ = tw.Close()
	w.Header().Set("X-Docker-Container-Path-Stat", stat)
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(buf.Bytes())
	return err
}
