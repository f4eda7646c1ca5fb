package fakeengine

import (
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
)

// ctr is one container of the model.
type ctr struct {
	id, name string // name without the leading "/"
	seq      uint64 // creation order, for newest-first listing
	created  time.Time
	cfg      *container.Config // as created, with the image's defaults merged
	imageID  string
	ref      string // normalized reference the image was found by, "" for an ID
	host     hostCfg
	eps      map[string]*endpoint // network name (or the term given, until start resolves it) → endpoint
	mounts   []mountPoint
	st       ctrState
	ports    []bound          // host ports held while running
	files    map[string]*file // path → content placed by archive uploads
}

// hostCfg is the part of HostConfig the model keeps.
type hostCfg struct {
	networkMode container.NetworkMode
	restart     container.RestartPolicy
	publish     []portSpec // PortBindings, flattened and sorted: smaller than the map
	mounts      []mount.Mount
	binds       []string
	autoRemove  bool
	privileged  bool
	nanoCPUs    int64
	memory      int64
	extraHosts  []string
}

// ctrState is a container's lifecycle state.
type ctrState struct {
	status     container.ContainerState // created, running, paused, exited, removing
	pid        int
	exitCode   int
	err        string
	startedAt  time.Time
	finishedAt time.Time
	restarts   int
	manualStop bool // stopped or killed through the API: no restart policy applies
}

func (c *ctr) running() bool {
	return c.st.status == container.StateRunning || c.st.status == container.StatePaused
}

// validName is dockerd's container name pattern.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// findContainer resolves a container as dockerd does: full ID, then name,
// then a unique ID prefix. e.mu must be held. Not found is 404
// "No such container: X".
func (e *Engine) findContainer(term string) (*ctr, error) {
	if c, ok := e.containers[term]; ok {
		return c, nil
	}
	if id, ok := e.ctrNames[strings.TrimPrefix(term, "/")]; ok {
		return e.containers[id], nil
	}
	var hit *ctr
	if term != "" && strings.Trim(term, "0123456789abcdef") == "" {
		for id, c := range e.containers {
			if strings.HasPrefix(id, term) {
				if hit != nil {
					return nil, errInvalid("multiple IDs found with provided prefix: %s", term)
				}
				hit = c
			}
		}
	}
	if hit == nil {
		return nil, errNotFound("No such container: %s", term)
	}
	return hit, nil
}

// containerCreate serves POST /containers/create in dockerd's order of
// checks: settings (400), the image (404 "No such image: ..."), the
// networking config (400; an unknown network is accepted and fails at
// start), the name (409). Volumes named by mounts are created if missing.
func (e *Engine) containerCreate(w http.ResponseWriter, r *http.Request, _ string) error {
	var req container.CreateRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Config == nil {
		return errInvalid("config cannot be empty in order to create a container")
	}
	name := strings.TrimPrefix(r.URL.Query().Get("name"), "/")
	if name != "" && !validName.MatchString(name) {
		return errInvalid("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	hc := req.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if hc.RestartPolicy.Name == "" {
		hc.RestartPolicy.Name = container.RestartPolicyDisabled
	}
	if err := container.ValidateRestartPolicy(hc.RestartPolicy); err != nil {
		return errInvalid("%v", err)
	}
	if err := validatePorts(hc.PortBindings); err != nil {
		return err
	}
	if hc.NetworkMode.IsContainer() {
		return errInvalid("fakeengine: network mode %s is not modelled", hc.NetworkMode)
	}
	var epCfg map[string]*network.EndpointSettings
	if req.NetworkingConfig != nil {
		epCfg = req.NetworkingConfig.EndpointsConfig
	}
	if len(epCfg) > 1 {
		return errInvalid("Container cannot be created with multiple network endpoints: %s", strings.Join(slices.Sorted(maps.Keys(epCfg)), ", "))
	}
	if req.Config.Image == "" && len(req.Config.Cmd) == 0 && len(req.Config.Entrypoint) == 0 {
		return errInvalid("No command specified")
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	var im *img
	if req.Config.Image != "" {
		var err error
		if im, err = e.findImage(req.Config.Image); err != nil {
			return err
		}
	}
	var warnings []string
	for k, v := range epCfg {
		if v == nil {
			return errInvalid("invalid config for network %s: EndpointsConfig is nil", k)
		}
		n, _ := e.findNetwork(k)
		if err := validateEndpoint(n, k, v); err != nil {
			return errInvalid("invalid config for network %s: %v", k, err)
		}
	}
	if name == "" {
		name = e.generateName()
	} else if id, taken := e.ctrNames[name]; taken {
		return errConflict("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", "/"+name, id)
	}
	points, err := parseMounts(hc)
	if err != nil {
		return err
	}

	c := &ctr{id: newID(), name: name, created: time.Now(), files: map[string]*file{}, mounts: points}
	e.seq++
	c.seq = e.seq
	c.cfg = mergeImageConfig(req.Config, im, c.id)
	if im != nil {
		c.imageID = im.id
		if norm, err := normalizeRef(req.Config.Image); err == nil && e.tags[norm] == im.id {
			c.ref = norm
		}
	}
	if hc.NetworkMode == "" {
		hc.NetworkMode = network.NetworkDefault
	}
	c.host = hostCfg{
		networkMode: hc.NetworkMode, restart: hc.RestartPolicy, publish: flattenPorts(hc.PortBindings),
		mounts: hc.Mounts, binds: hc.Binds, autoRemove: hc.AutoRemove,
		privileged: hc.Privileged, nanoCPUs: hc.NanoCPUs, memory: hc.Memory, extraHosts: hc.ExtraHosts,
	}
	if hc.NetworkMode.IsHost() && len(hc.PortBindings) > 0 {
		warnings = append(warnings, "Published ports are discarded when using host network mode")
	}
	c.eps = map[string]*endpoint{}
	for k, v := range epCfg {
		c.eps[k] = &endpoint{cfg: *v}
	}
	if len(c.eps) == 0 {
		key := modeNetwork(hc.NetworkMode)
		if n, err := e.findNetwork(key); err == nil {
			key = n.name
		}
		c.eps[key] = &endpoint{}
	}
	c.st.status = container.StateCreated
	for i := range c.mounts {
		if m := &c.mounts[i]; m.typ == mount.TypeVolume {
			e.ensureVolume(m.name, m.labels)
		}
	}
	e.containers[c.id] = c
	e.ctrNames[c.name] = c.id
	e.emitContainer(c, events.ActionCreate, nil)
	if warnings == nil {
		warnings = []string{}
	}
	writeJSON(w, http.StatusCreated, container.CreateResponse{ID: c.id, Warnings: warnings})
	return nil
}

// mergeImageConfig is the container's config: the request's (which it
// takes over: the request was decoded for this call alone), with the
// image's command and labels where the request leaves them out, and the
// hostname defaulting to the short ID.
func mergeImageConfig(cfg *container.Config, im *img, id string) *container.Config {
	if cfg.Hostname == "" {
		cfg.Hostname = shortID(id)
	}
	if im != nil {
		if len(cfg.Cmd) == 0 && len(cfg.Entrypoint) == 0 {
			cfg.Cmd = slices.Clone(im.cmd)
		}
		if len(im.labels) > 0 {
			merged := maps.Clone(im.labels)
			maps.Copy(merged, cfg.Labels)
			cfg.Labels = merged
		}
	}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	return cfg
}

// modeNetwork is the network a network mode attaches to; "default" is
// the bridge network, as on Linux.
func modeNetwork(mode container.NetworkMode) string {
	if mode.IsDefault() || mode == "" {
		return network.NetworkBridge
	}
	return mode.NetworkName()
}

// generateName picks a free name for a container created without one.
func (e *Engine) generateName() string {
	for {
		name := "fake_" + shortID(newID())
		if _, taken := e.ctrNames[name]; !taken {
			return name
		}
	}
}

// validatePorts checks published ports the way dockerd does at create.
func validatePorts(pm nat.PortMap) error {
	for port, bindings := range pm {
		_, p := nat.SplitProtoPort(string(port))
		if _, err := nat.ParsePort(p); err != nil || p == "" {
			return errInvalid("invalid port specification: %q", p)
		}
		for _, b := range bindings {
			if b.HostPort == "" {
				continue
			}
			if _, err := nat.ParsePort(b.HostPort); err != nil {
				return errInvalid("invalid port specification: %q", b.HostPort)
			}
		}
	}
	return nil
}

// portSpec is one requested port binding.
type portSpec struct {
	port             nat.Port
	hostIP, hostPort string
}

// flattenPorts turns PortBindings into a slice sorted by container port.
func flattenPorts(pm nat.PortMap) []portSpec {
	var out []portSpec
	for _, port := range slices.Sorted(maps.Keys(pm)) {
		for _, b := range pm[port] {
			out = append(out, portSpec{port: port, hostIP: b.HostIP, hostPort: b.HostPort})
		}
	}
	return out
}

// portMap turns the flattened bindings back into PortBindings.
func portMap(ps []portSpec) nat.PortMap {
	out := nat.PortMap{}
	for _, p := range ps {
		out[p.port] = append(out[p.port], nat.PortBinding{HostIP: p.hostIP, HostPort: p.hostPort})
	}
	return out
}

// containerRemove serves DELETE /containers/{id}. A running container needs
// force (409 otherwise, with dockerd's message); force kills it first, with
// the kill, die and disconnect events. Named volumes are kept; v=1 removes
// anonymous ones that no other container uses.
func (e *Engine) containerRemove(w http.ResponseWriter, r *http.Request, term string) error {
	force, removeVolumes := boolParam(r, "force"), boolParam(r, "v")
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(term)
	if err != nil {
		return err
	}
	if c.st.status == container.StateRemoving {
		return errConflict("removal of container %s is already in progress", term)
	}
	if c.running() && !force {
		if c.st.status == container.StatePaused {
			return errConflict("cannot remove container %q: container is paused and must be unpaused first", term)
		}
		return errConflict("cannot remove container %q: container is %s: stop the container before removing or force remove", term, c.st.status)
	}
	if c.running() {
		c.st.manualStop = true
		e.emitContainer(c, events.ActionKill, map[string]string{"signal": "9"})
		e.stopped(c, 137)
	}
	e.destroy(c, removeVolumes)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// destroy removes a stopped container from the model and emits destroy.
// e.mu must be held.
func (e *Engine) destroy(c *ctr, removeVolumes bool) {
	delete(e.containers, c.id)
	delete(e.ctrNames, c.name)
	e.emitContainer(c, events.ActionDestroy, nil)
	if !removeVolumes {
		return
	}
	for _, m := range c.mounts {
		if v, ok := e.volumes[m.name]; ok && m.typ == mount.TypeVolume && v.anonymous && len(e.volumeRefs(v.name)) == 0 {
			e.removeVolume(v)
		}
	}
}

// emitContainer emits a container event carrying the labels, image and
// name as attributes, as dockerd. e.mu must be held.
func (e *Engine) emitContainer(c *ctr, action events.Action, extra map[string]string) {
	attrs := make(map[string]string, len(c.cfg.Labels)+len(extra)+2)
	maps.Copy(attrs, c.cfg.Labels)
	maps.Copy(attrs, extra)
	if c.cfg.Image != "" {
		attrs["image"] = c.cfg.Image
	}
	attrs["name"] = c.name
	e.emit(events.ContainerEventType, action, c.id, attrs)
}

// sortedContainers returns the containers newest first, as dockerd lists
// them. e.mu must be held.
func (e *Engine) sortedContainers() []*ctr {
	out := make([]*ctr, 0, len(e.containers))
	for _, c := range e.containers {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq > out[j].seq })
	return out
}
