package fakeengine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/mount"
)

// The helpers below read the model directly, without going through the
// API (no latency, no faults, no call counted), for tests to check what a
// driver did. They return copies.

// Container is a container as the engine holds it.
type Container struct {
	ID           string
	Name         string
	Image        string // the reference given at create
	ImageID      string
	State        string // "created", "running", "paused", "exited"
	Running      bool   // running or paused
	ExitCode     int
	RestartCount int
	Labels       map[string]string
	// Networks maps each attached network to the container's IPv4 address
	// on it ("" while not running).
	Networks map[string]string
	// Ports are the published host ports while running, as "tcp/8080",
	// sorted and without duplicates (the driver's HostPorts format).
	Ports []string
	// Volumes are the names of the volumes it mounts.
	Volumes []string
}

// Containers returns every container, sorted by name.
func (e *Engine) Containers() []Container {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Container, 0, len(e.containers))
	for _, c := range e.containers {
		out = append(out, containerView(c))
	}
	slices.SortFunc(out, func(a, b Container) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Container returns the container with that name or ID.
func (e *Engine) Container(name string) (Container, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(name)
	if err != nil {
		return Container{}, false
	}
	return containerView(c), true
}

func containerView(c *ctr) Container {
	v := Container{
		ID: c.id, Name: c.name, Image: c.cfg.Image, ImageID: c.imageID, State: c.st.status,
		Running: c.running(), ExitCode: c.st.exitCode, RestartCount: c.st.restarts,
		Labels: maps.Clone(c.cfg.Labels), Networks: map[string]string{},
	}
	for name, ep := range c.eps {
		v.Networks[name] = ""
		if ep.ip.IsValid() {
			v.Networks[name] = ep.ip.String()
		}
	}
	for _, b := range c.ports {
		v.Ports = append(v.Ports, fmt.Sprintf("%s/%d", b.port.Proto(), b.hostPort))
	}
	slices.Sort(v.Ports)
	v.Ports = slices.Compact(v.Ports)
	for _, m := range c.mounts {
		if m.typ == mount.TypeVolume {
			v.Volumes = append(v.Volumes, m.name)
		}
	}
	return v
}

// File returns the content and mode of a regular file an archive upload
// put into the container; ok is false when there is none at that path.
func (e *Engine) File(container, path string) (content string, mode int64, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(container)
	if err != nil {
		return "", 0, false
	}
	f, found := c.files[path]
	if !found || f.dir || f.link != "" {
		return "", 0, false
	}
	return string(f.data), f.mode, true
}

// Network is a network as the engine holds it.
type Network struct {
	ID         string
	Name       string
	Driver     string
	Bridge     string // Linux bridge name, bridge driver only
	Subnet     string
	IPRange    string
	Gateway    string
	Predefined bool // bridge, host or none
	Labels     map[string]string
	Options    map[string]string
	// Endpoints maps the names of running containers attached to it to
	// their IPv4 addresses.
	Endpoints map[string]string
}

// Networks returns every network, the predefined ones included, by name.
func (e *Engine) Networks() []Network {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Network, 0, len(e.networks))
	for _, n := range e.networks {
		v := Network{
			ID: n.id, Name: n.name, Driver: n.driver, Bridge: n.bridge, Predefined: n.predefined,
			Labels: maps.Clone(n.labels), Options: maps.Clone(n.options), Endpoints: map[string]string{},
		}
		if n.pool != nil {
			v.Subnet, v.Gateway = n.pool.subnet.String(), n.pool.gateway.String()
			if n.pool.ipRange.IsValid() {
				v.IPRange = n.pool.ipRange.String()
			}
		}
		for cid, ep := range n.active {
			v.Endpoints[e.containers[cid].name] = ""
			if ep.ip.IsValid() {
				v.Endpoints[e.containers[cid].name] = ep.ip.String()
			}
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Network) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Volume is a volume as the engine holds it.
type Volume struct {
	Name      string
	Labels    map[string]string
	CreatedAt time.Time
	// UsedBy are the names of the containers (any state) that mount it.
	UsedBy []string
}

// Volumes returns every volume, by name.
func (e *Engine) Volumes() []Volume {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Volume, 0, len(e.volumes))
	for _, v := range e.volumes {
		vv := Volume{Name: v.name, Labels: maps.Clone(v.labels), CreatedAt: v.created}
		for _, id := range e.volumeRefs(v.name) {
			vv.UsedBy = append(vv.UsedBy, e.containers[id].name)
		}
		slices.Sort(vv.UsedBy)
		out = append(out, vv)
	}
	slices.SortFunc(out, func(a, b Volume) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Image is an image as the engine holds it.
type Image struct {
	ID   string
	Tags []string // familiar form, "busybox:latest"
}

// Images returns every image, by ID.
func (e *Engine) Images() []Image {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Image, 0, len(e.images))
	for _, im := range e.images {
		v := Image{ID: im.id}
		for _, t := range im.tags {
			v.Tags = append(v.Tags, familiar(t))
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Image) int { return strings.Compare(a.ID, b.ID) })
	return out
}
