package fakeengine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/image"
)

// img is one image of the model: an ID and its tags, no layers.
type img struct {
	id      string   // "sha256:<64 hex>"
	tags    []string // normalized references, "docker.io/library/busybox:latest"
	created time.Time
	size    int64
	cmd     []string
	labels  map[string]string
}

// imageCreated is the creation time of images the fake makes up.
var imageCreated = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

var imageIDPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// normalizeRef turns "busybox" into "docker.io/library/busybox:latest".
func normalizeRef(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", err
	}
	return reference.TagNameOnly(named).String(), nil
}

// familiar turns a normalized reference back into "busybox:latest".
func familiar(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.FamiliarString(named)
}

// DeriveImageID is the ID an image reference gets when Options.Images or
// AddImage leave it empty; it is the same on every engine.
func DeriveImageID(ref string) string {
	norm, err := normalizeRef(ref)
	if err != nil {
		norm = ref
	}
	sum := sha256.Sum256([]byte("fakeengine image " + norm))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// AddImage makes ref present with the image ID id ("sha256:<64 hex>"; the
// bare 64 hex digits work too; empty derives one with DeriveImageID). A tag
// that named another image moves, leaving that image untagged, as a pull
// or load would. It returns the ID and emits no event.
func (e *Engine) AddImage(ref, id string) (string, error) {
	norm, err := normalizeRef(ref)
	if err != nil {
		return "", fmt.Errorf("fakeengine: image %q: %w", ref, err)
	}
	if id, err = canonicalID(ref, id); err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tagImage(e.addImageID(id), norm)
	return id, nil
}

// canonicalID checks and completes an image ID given in options.
func canonicalID(ref, id string) (string, error) {
	switch {
	case id == "":
		return DeriveImageID(ref), nil
	case !strings.HasPrefix(id, "sha256:"):
		id = "sha256:" + id
	}
	if !imageIDPattern.MatchString(id) {
		return "", fmt.Errorf("fakeengine: image %q: ID %q is not sha256:<64 hex digits>", ref, id)
	}
	return id, nil
}

// addImageID returns the image with that ID, creating it. e.mu must be held.
func (e *Engine) addImageID(id string) *img {
	if im, ok := e.images[id]; ok {
		return im
	}
	im := &img{id: id, created: imageCreated, size: 4 << 20, cmd: []string{"sh"}}
	e.images[id] = im
	return im
}

// tagImage points the normalized reference at im. e.mu must be held.
func (e *Engine) tagImage(im *img, norm string) {
	if old, ok := e.tags[norm]; ok {
		if old == im.id {
			return
		}
		if o := e.images[old]; o != nil {
			o.tags = slices.DeleteFunc(o.tags, func(t string) bool { return t == norm })
		}
	}
	e.tags[norm] = im.id
	im.tags = append(im.tags, norm)
	slices.Sort(im.tags)
}

// addRegistry makes ref pullable with the image ID id.
func (e *Engine) addRegistry(ref, id string) error {
	norm, err := normalizeRef(ref)
	if err != nil {
		return fmt.Errorf("fakeengine: registry image %q: %w", ref, err)
	}
	if id, err = canonicalID(ref, id); err != nil {
		return err
	}
	e.mu.Lock()
	e.registry[norm] = id
	e.mu.Unlock()
	return nil
}

// findImage resolves an image by reference, full ID or unique ID prefix,
// as dockerd's image service; missing is 404 "No such image: busybox:latest".
// e.mu must be held.
func (e *Engine) findImage(term string) (*img, error) {
	if strings.HasPrefix(term, "sha256:") {
		if im := e.imageByIDPrefix(term); im != nil {
			return im, nil
		}
		return nil, errNotFound("No such image: %s", term)
	}
	norm, err := normalizeRef(term)
	if err == nil {
		if id, ok := e.tags[norm]; ok {
			return e.images[id], nil
		}
	}
	if strings.Trim(term, "0123456789abcdef") == "" {
		if im := e.imageByIDPrefix("sha256:" + term); im != nil {
			return im, nil
		}
	}
	if err != nil {
		return nil, errInvalid("invalid reference format")
	}
	return nil, errNotFound("No such image: %s", familiar(norm))
}

func (e *Engine) imageByIDPrefix(prefix string) *img {
	if im, ok := e.images[prefix]; ok {
		return im
	}
	var hit *img
	for id, im := range e.images {
		if strings.HasPrefix(id, prefix) {
			if hit != nil {
				return nil
			}
			hit = im
		}
	}
	return hit
}

// imageJSON renders im the way inspect does (the fields the client reads).
type imageJSON struct {
	ID           string            `json:"Id"`
	RepoTags     []string          `json:"RepoTags"`
	RepoDigests  []string          `json:"RepoDigests"`
	Created      string            `json:"Created"`
	Size         int64             `json:"Size"`
	Os           string            `json:"Os"`
	Architecture string            `json:"Architecture"`
	Config       imageConfigJSON   `json:"Config"`
	RootFS       map[string]string `json:"RootFS"`
}

type imageConfigJSON struct {
	Cmd    []string          `json:"Cmd"`
	Labels map[string]string `json:"Labels"`
}

func (im *img) json() imageJSON {
	tags := make([]string, 0, len(im.tags))
	for _, t := range im.tags {
		tags = append(tags, familiar(t))
	}
	return imageJSON{
		ID: im.id, RepoTags: tags, RepoDigests: []string{}, Created: im.created.Format(time.RFC3339Nano),
		Size: im.size, Os: "linux", Architecture: "amd64",
		Config: imageConfigJSON{Cmd: slices.Clone(im.cmd), Labels: maps.Clone(im.labels)},
		RootFS: map[string]string{"Type": "layers"},
	}
}

// imageInspect serves GET /images/{name}/json.
func (e *Engine) imageInspect(w http.ResponseWriter, _ *http.Request, name string) error {
	e.mu.Lock()
	im, err := e.findImage(name)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	out := im.json()
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
	return nil
}

// imageList serves GET /images/json (no filters are applied).
func (e *Engine) imageList(w http.ResponseWriter, _ *http.Request, _ string) error {
	e.mu.Lock()
	out := []image.Summary{}
	for _, im := range e.images {
		j := im.json()
		out = append(out, image.Summary{ID: j.ID, RepoTags: j.RepoTags, RepoDigests: j.RepoDigests,
			Created: im.created.Unix(), Size: im.size, Labels: j.Config.Labels, Containers: -1, SharedSize: -1})
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b image.Summary) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, out)
	return nil
}

// imagePull serves POST /images/create?fromImage=&tag=. Only references in
// Options.Registry can be pulled; anything else fails at once with a
// 500 "no such host" for the registry, as an engine without network.
// Success streams dockerd's progress lines and emits a pull event.
func (e *Engine) imagePull(w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	from, tag := q.Get("fromImage"), q.Get("tag")
	if from == "" {
		return errInvalid("fakeengine: only pulls (fromImage) are modelled")
	}
	ref := from
	if tag != "" {
		sep := ":"
		if strings.Contains(tag, ":") {
			sep = "@"
		}
		ref += sep + tag
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return errInvalid("invalid reference format")
	}
	norm := reference.TagNameOnly(named).String()
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.registry[norm]
	if !ok {
		host := reference.Domain(named)
		if host == "docker.io" {
			host = "registry-1.docker.io"
		}
		return errSystem("Get \"https://%s/v2/\": dial tcp: lookup %s: no such host", host, host)
	}
	fam := familiar(norm)
	_, had := e.tags[norm]
	uptodate := had && e.tags[norm] == id
	e.tagImage(e.addImageID(id), norm)
	e.emit(events.ImageEventType, events.ActionPull, fam, map[string]string{"name": reference.FamiliarName(named)})
	t := tag
	if t == "" {
		t = "latest"
	}
	status := "Status: Downloaded newer image for " + fam
	if uptodate {
		status = "Status: Image is up to date for " + fam
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "Pulling from " + reference.Path(named), "id": t})
	enc := newLineEncoder(w)
	enc(map[string]string{"status": "Digest: " + id})
	enc(map[string]string{"status": status})
	return nil
}

// imageTag serves POST /images/{name}/tag?repo=&tag=.
func (e *Engine) imageTag(w http.ResponseWriter, r *http.Request, name string) error {
	q := r.URL.Query()
	target := q.Get("repo")
	if t := q.Get("tag"); t != "" {
		target += ":" + t
	}
	norm, err := normalizeRef(target)
	if err != nil {
		return errInvalid("invalid reference format")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	im, err := e.findImage(name)
	if err != nil {
		return err
	}
	e.tagImage(im, norm)
	e.emit(events.ImageEventType, events.ActionTag, im.id, map[string]string{"name": familiar(norm)})
	w.WriteHeader(http.StatusCreated)
	return nil
}

// imageRemove serves DELETE /images/{name}: a reference is untagged (the
// image goes with its last tag); an image a container uses needs force.
func (e *Engine) imageRemove(w http.ResponseWriter, r *http.Request, name string) error {
	force := boolParam(r, "force")
	e.mu.Lock()
	defer e.mu.Unlock()
	im, err := e.findImage(name)
	if err != nil {
		return err
	}
	if !force {
		for _, c := range e.containers {
			if c.imageID == im.id {
				return errConflict("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s",
					name, shortID(c.id), shortID(strings.TrimPrefix(im.id, "sha256:")))
			}
		}
	}
	var out []image.DeleteResponse
	untag := im.tags
	if norm, err := normalizeRef(name); err == nil && e.tags[norm] == im.id && !force {
		untag = []string{norm}
	}
	for _, t := range slices.Clone(untag) {
		delete(e.tags, t)
		im.tags = slices.DeleteFunc(im.tags, func(s string) bool { return s == t })
		out = append(out, image.DeleteResponse{Untagged: familiar(t)})
		e.emit(events.ImageEventType, events.ActionUnTag, im.id, map[string]string{"name": familiar(t)})
	}
	if len(im.tags) == 0 {
		delete(e.images, im.id)
		out = append(out, image.DeleteResponse{Deleted: im.id})
		e.emit(events.ImageEventType, events.ActionDelete, im.id, map[string]string{"name": im.id})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
