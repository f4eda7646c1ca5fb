package fakeengine

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
)

// The archive of ImageSave and ImageLoad is shaped like `docker save`'s,
// without layers: a tar holding manifest.json, a list of
// {"Config": "blobs/sha256/<hex>", "RepoTags": [...], "Layers": []}, and
// the config blob of each image at its Config path. The image ID is the
// hex of the Config path (not a hash of the blob), so an image keeps its
// ID from one fake engine to another. A real `docker save` archive loads
// too: its images appear with their IDs and tags, without content.

// maxArchive bounds an uploaded image archive.
const maxArchive = 256 << 20

// manifestEntry is one image of manifest.json.
type manifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// configBlob is the part of an image config the fake writes and reads.
type configBlob struct {
	Architecture string    `json:"architecture"`
	OS           string    `json:"os"`
	Created      time.Time `json:"created"`
	Config       struct {
		Cmd    []string          `json:"Cmd,omitempty"`
		Labels map[string]string `json:"Labels,omitempty"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// imageSave serves GET /images/get?names=...: each name (a reference or
// an ID) must exist (404 otherwise). A reference puts its tag in RepoTags;
// an ID alone saves the image untagged, as dockerd.
func (e *Engine) imageSave(w http.ResponseWriter, r *http.Request, _ string) error {
	var manifest []manifestEntry
	blobs := map[string][]byte{}
	index := map[string]int{}
	e.mu.Lock()
	for _, name := range r.URL.Query()["names"] {
		im, err := e.findImage(name)
		if err != nil {
			e.mu.Unlock()
			return err
		}
		i, ok := index[im.id]
		if !ok {
			blobPath := "blobs/sha256/" + strings.TrimPrefix(im.id, "sha256:")
			var cb configBlob
			cb.Architecture, cb.OS, cb.Created = "amd64", "linux", im.created
			cb.Config.Cmd, cb.Config.Labels = slices.Clone(im.cmd), maps.Clone(im.labels)
			cb.RootFS.Type, cb.RootFS.DiffIDs = "layers", []string{}
			blobs[blobPath], _ = json.Marshal(cb)
			i = len(manifest)
			index[im.id] = i
			manifest = append(manifest, manifestEntry{Config: blobPath, RepoTags: []string{}, Layers: []string{}})
		}
		if norm, err := normalizeRef(name); err == nil && e.tags[norm] == im.id && !strings.HasPrefix(name, "sha256:") {
			if t := familiar(norm); !slices.Contains(manifest[i].RepoTags, t) {
				manifest[i].RepoTags = append(manifest[i].RepoTags, t)
			}
		}
	}
	e.mu.Unlock()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mj, _ := json.Marshal(manifest)
	put := func(name string, data []byte) {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: imageCreated, Typeflag: tar.TypeReg})
		_, _ = tw.Write(data)
	}
	for _, p := range slices.Sorted(maps.Keys(blobs)) {
		put(p, blobs[p])
	}
	put("manifest.json", mj)
	_ = tw.Close()
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(buf.Bytes())
	return err
}

// imageLoad serves POST /images/load: every image of the archive's
// manifest is added (or re-tagged) and reported in dockerd's
// "Loaded image: ..." stream, with a load event each.
func (e *Engine) imageLoad(w http.ResponseWriter, r *http.Request, _ string) error {
	files, err := readTar(io.LimitReader(r.Body, maxArchive))
	if err != nil {
		return errInvalid("fakeengine: image archive: %v", err)
	}
	mj, ok := files["manifest.json"]
	if !ok {
		return errSystem("fakeengine: image archive has no manifest.json")
	}
	var manifest []manifestEntry
	if err := json.Unmarshal(mj, &manifest); err != nil {
		return errSystem("fakeengine: image archive: manifest.json: %v", err)
	}
	var lines []string
	e.mu.Lock()
	for _, m := range manifest {
		hex := strings.TrimSuffix(path.Base(m.Config), ".json")
		id, err := canonicalID(m.Config, hex)
		if err != nil {
			e.mu.Unlock()
			return errSystem("fakeengine: image archive: config %q does not name an image ID", m.Config)
		}
		_, existed := e.images[id]
		im := e.addImageID(id)
		var cb configBlob
		if blob, ok := files[m.Config]; ok && !existed && json.Unmarshal(blob, &cb) == nil {
			im.cmd, im.labels = cb.Config.Cmd, cb.Config.Labels
			if !cb.Created.IsZero() {
				im.created = cb.Created
			}
		}
		for _, t := range m.RepoTags {
			norm, err := normalizeRef(t)
			if err != nil {
				continue
			}
			e.tagImage(im, norm)
			lines = append(lines, "Loaded image: "+familiar(norm))
		}
		if len(m.RepoTags) == 0 {
			lines = append(lines, "Loaded image ID: "+id)
		}
		e.emit(events.ImageEventType, events.ActionLoad, id, map[string]string{"name": id})
	}
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := newLineEncoder(w)
	for _, l := range lines {
		enc(map[string]string{"stream": l + "\n"})
	}
	return nil
}

// readTar reads the regular files of a tar into memory, by cleaned name.
func readTar(r io.Reader) (map[string][]byte, error) {
	out := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		out[path.Clean(strings.TrimPrefix(hdr.Name, "./"))] = data
	}
}

// newLineEncoder returns a function that writes one JSON value per line
// and flushes it, for progress streams.
func newLineEncoder(w http.ResponseWriter) func(any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return func(v any) {
		_ = enc.Encode(v)
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
	}
}
