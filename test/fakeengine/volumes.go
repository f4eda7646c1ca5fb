package fakeengine

import (
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
)

// vol is one named volume of the model (local driver only).
type vol struct {
	name      string
	labels    map[string]string
	options   map[string]string
	created   time.Time
	anonymous bool
}

// mountPoint is one mount of a container: a volume, a bind or a tmpfs.
type mountPoint struct {
	typ    mount.Type
	name   string // volume name
	source string // bind source
	dest   string
	rw     bool
	labels map[string]string // labels of a volume the mount creates
}

// validVolumeName is the local driver's volume name pattern.
var validVolumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// parseMounts turns HostConfig.Mounts and Binds into mount points; an
// empty volume source makes an anonymous volume. Bind sources are not
// checked against any filesystem.
func parseMounts(hc *container.HostConfig) ([]mountPoint, error) {
	var out []mountPoint
	seen := map[string]bool{}
	add := func(m mountPoint) error {
		if seen[m.dest] {
			return errInvalid("Duplicate mount point: %s", m.dest)
		}
		seen[m.dest] = true
		out = append(out, m)
		return nil
	}
	for _, m := range hc.Mounts {
		if m.Target == "" {
			return nil, errInvalid("invalid mount config for type %q: field Target must not be empty", m.Type)
		}
		mp := mountPoint{typ: m.Type, dest: m.Target, rw: !m.ReadOnly}
		switch m.Type {
		case mount.TypeVolume:
			mp.name = m.Source
			if mp.name == "" {
				mp.name = newID()
			}
			if m.VolumeOptions != nil {
				mp.labels = m.VolumeOptions.Labels
			}
		case mount.TypeBind:
			if !strings.HasPrefix(m.Source, "/") {
				return nil, errInvalid("invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute", m.Source)
			}
			mp.source = m.Source
		case mount.TypeTmpfs:
		default:
			return nil, errInvalid("fakeengine: mount type %q is not modelled", m.Type)
		}
		if err := add(mp); err != nil {
			return nil, err
		}
	}
	for _, b := range hc.Binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, errInvalid("invalid volume specification: '%s'", b)
		}
		mp := mountPoint{typ: mount.TypeVolume, name: parts[0], dest: parts[1], rw: true}
		if strings.HasPrefix(parts[0], "/") {
			mp = mountPoint{typ: mount.TypeBind, source: parts[0], dest: parts[1], rw: true}
		}
		if len(parts) == 3 && slices.Contains(strings.Split(parts[2], ","), "ro") {
			mp.rw = false
		}
		if err := add(mp); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ensureVolume creates the volume if it is missing, emitting create, and
// returns it. e.mu must be held.
func (e *Engine) ensureVolume(name string, labels map[string]string) *vol {
	if v, ok := e.volumes[name]; ok {
		return v
	}
	v := &vol{name: name, labels: maps.Clone(labels), options: map[string]string{}, created: time.Now()}
	if v.labels == nil {
		v.labels = map[string]string{}
	}
	if len(name) == 64 && strings.Trim(name, "0123456789abcdef") == "" {
		v.anonymous = true
		v.labels["com.docker.volume.anonymous"] = ""
	}
	e.volumes[name] = v
	e.emit(events.VolumeEventType, events.ActionCreate, name, map[string]string{"driver": "local"})
	return v
}

// volumeRefs returns the IDs of the containers, in any state, that mount
// the volume. e.mu must be held.
func (e *Engine) volumeRefs(name string) []string {
	var refs []string
	for _, c := range e.containers {
		for _, m := range c.mounts {
			if m.typ == mount.TypeVolume && m.name == name {
				refs = append(refs, c.id)
				break
			}
		}
	}
	slices.Sort(refs)
	return refs
}

// removeVolume deletes v and emits destroy. e.mu must be held.
func (e *Engine) removeVolume(v *vol) {
	delete(e.volumes, v.name)
	e.emit(events.VolumeEventType, events.ActionDestroy, v.name, map[string]string{"driver": "local"})
}

// volumeJSON renders v; labels are never changed after create, so the map
// is shared.
func volumeJSON(v *vol) *volume.Volume {
	return &volume.Volume{
		Name:       v.name,
		Driver:     "local",
		Mountpoint: "/var/lib/docker/volumes/" + v.name + "/_data",
		CreatedAt:  v.created.Format(time.RFC3339),
		Labels:     v.labels,
		Options:    v.options,
		Scope:      "local",
	}
}

// volumeCreate serves POST /volumes/create. Creating a volume that exists
// returns it unchanged (its labels stay as they were), as dockerd; an empty
// name makes an anonymous volume. Only the local driver is modelled.
func (e *Engine) volumeCreate(w http.ResponseWriter, r *http.Request, _ string) error {
	var req volume.CreateOptions
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Driver != "" && req.Driver != "local" {
		return errNotFound("error looking up volume plugin %s: plugin %q not found", req.Driver, req.Driver)
	}
	name := req.Name
	if name == "" {
		name = newID()
	} else if !validVolumeName.MatchString(name) {
		return errInvalid("create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name, name)
	}
	e.mu.Lock()
	v := e.ensureVolume(name, req.Labels)
	if len(v.options) == 0 && len(req.DriverOpts) > 0 {
		v.options = maps.Clone(req.DriverOpts)
	}
	out := volumeJSON(v)
	e.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// volumeInspect serves GET /volumes/{name}; missing is 404
// "get NAME: no such volume".
func (e *Engine) volumeInspect(w http.ResponseWriter, _ *http.Request, name string) error {
	e.mu.Lock()
	v, ok := e.volumes[name]
	if !ok {
		e.mu.Unlock()
		return errNotFound("get %s: no such volume", name)
	}
	out := volumeJSON(v)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
	return nil
}

var volumeFilters = map[string]bool{"dangling": true, "name": true, "driver": true, "label": true}

// volumeList serves GET /volumes with the filters dangling, driver, label
// and name.
func (e *Engine) volumeList(w http.ResponseWriter, r *http.Request, _ string) error {
	f, err := filters.FromJSON(r.URL.Query().Get("filters"))
	if err != nil {
		return errInvalid("%v", err)
	}
	if err := f.Validate(volumeFilters); err != nil {
		return errInvalid("%v", err)
	}
	names := newMatcher(f, "name")
	dangling, err := f.GetBoolOrDefault("dangling", false)
	if err != nil {
		return errInvalid("%v", err)
	}
	e.mu.Lock()
	var used map[string]bool
	if f.Contains("dangling") {
		used = map[string]bool{}
		for _, c := range e.containers {
			for _, m := range c.mounts {
				used[m.name] = true
			}
		}
	}
	out := volume.ListResponse{Volumes: []*volume.Volume{}, Warnings: []string{}}
	for _, v := range e.volumes {
		if !names.match(v.name) || !f.ExactMatch("driver", "local") || !f.MatchKVList("label", v.labels) {
			continue
		}
		if used != nil && used[v.name] == dangling {
			continue
		}
		out.Volumes = append(out.Volumes, volumeJSON(v))
	}
	e.mu.Unlock()
	slices.SortFunc(out.Volumes, func(a, b *volume.Volume) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, out)
	return nil
}

// volumeRemove serves DELETE /volumes/{name}. A volume that any container
// mounts (running or not) is 409 "remove NAME: volume is in use - [IDs]",
// force or not; a missing one is 404 unless force.
func (e *Engine) volumeRemove(w http.ResponseWriter, r *http.Request, name string) error {
	force := boolParam(r, "force")
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.volumes[name]
	if !ok {
		if force {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return errNotFound("get %s: no such volume", name)
	}
	if refs := e.volumeRefs(name); len(refs) > 0 {
		return errConflict("remove %s: volume is in use - [%s]", name, strings.Join(refs, ", "))
	}
	e.removeVolume(v)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
