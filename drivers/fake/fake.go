// Package fake is a stateful in-memory host: containers, networks, volumes
// and tunnels that behave like the real drivers (ownership, idempotent
// Ensure, replace on a changed spec hash) and render themselves as text.
// Tests drive it through random sequences of desired states; it is safe
// for concurrent use.
package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rensei-dev/rensei/drivers"
)

// Host is one fake host. The zero value is not usable; call New.
type Host struct {
	name string

	mu         sync.Mutex
	down       bool
	images     map[string]bool // nil: every image is present
	containers map[string]*container
	networks   map[string]*network
	volumes    map[string]*drivers.Volume
	tunnels    map[string]*drivers.Tunnel
	bridges    map[string]bool
	fail       map[string]error // "kind/name" → error for the next call
	nextID     int
	clock      time.Time

	// Calls counts driver calls by "kind.method", for tests of cost.
	Calls map[string]int
}

type container struct {
	spec    drivers.ContainerSpec
	id      string
	running bool
	owned   bool
}

type network struct {
	spec  drivers.NetworkSpec
	id    string
	owned bool
}

// New returns an empty, reachable host.
func New(name string) *Host {
	return &Host{
		name:       name,
		containers: map[string]*container{},
		networks:   map[string]*network{},
		volumes:    map[string]*drivers.Volume{},
		tunnels:    map[string]*drivers.Tunnel{},
		bridges:    map[string]bool{},
		fail:       map[string]error{},
		clock:      time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		Calls:      map[string]int{},
	}
}

// Drivers returns the drivers.Host view of this fake for the default
// deployment scope.
func (h *Host) Drivers() drivers.Host { return h.DriversFor("") }

// DriversFor returns the view of one deployment scope: like the Docker
// driver, it never deletes another scope's objects, and no container it
// makes joins a network or mounts a volume that is not its scope's.
func (h *Host) DriversFor(scope string) drivers.Host {
	return drivers.Host{
		Name:       h.name,
		Containers: containers{h, scope},
		Networks:   networks{h, scope},
		Volumes:    volumes{h, scope},
		Tunnels:    tunnels{h, scope},
		Images:     images{h},
		Probe:      h.Probe,
	}
}

// SetDown makes every call fail with drivers.ErrUnreachable (or succeed again).
func (h *Host) SetDown(down bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down = down
}

// SetImages limits the images present; others fail with drivers.ErrImageMissing.
func (h *Host) SetImages(images ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.images = map[string]bool{}
	for _, i := range images {
		h.images[i] = true
	}
}

// FailNext makes the next change of kind/name fail with err.
func (h *Host) FailNext(kind, name string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail[kind+"/"+name] = err
}

// Probe reports the host's reachability.
func (h *Host) Probe(context.Context) drivers.HostStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		return drivers.HostStatus{Error: "fake host is down"}
	}
	return drivers.HostStatus{Reachable: true, DockerVersion: "fake", UnderlayFound: true, VXLAN: true}
}

// enter starts a driver call: counts it, checks reachability and injected failures.
func (h *Host) enter(kind, method, name string) error {
	h.Calls[kind+"."+method]++
	if h.down {
		return fmt.Errorf("%s %s: %s: %w", kind, name, h.name, drivers.ErrUnreachable)
	}
	if err, ok := h.fail[kind+"/"+name]; ok && method != "list" {
		delete(h.fail, kind+"/"+name)
		return fmt.Errorf("%s %s: %s: %w", kind, name, method, err)
	}
	return nil
}

func (h *Host) id() string {
	h.nextID++
	return fmt.Sprintf("%012x", h.nextID)
}

// AddUnowned creates a container without Rensei's labels, as a person would.
func (h *Host) AddUnowned(name, image string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.containers[name] = &container{spec: drivers.ContainerSpec{Name: name, Image: image, Labels: map[string]string{}}, id: h.id(), running: true}
}

// AddUnownedNetwork creates a network without Rensei's labels (as
// docker-compose would), and AddUnownedVolume a volume.
func (h *Host) AddUnownedNetwork(name, subnet string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.networks[name] = &network{spec: drivers.NetworkSpec{Name: name, Subnet: subnet, Labels: map[string]string{}}, id: h.id()}
}

// AddUnownedVolume creates a volume without Rensei's labels.
func (h *Host) AddUnownedVolume(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.volumes[name] = &drivers.Volume{Name: name, Labels: map[string]string{}, CreatedAt: h.clock}
}

// Stop stops a container, as a crash would.
func (h *Host) Stop(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.containers[name]; c != nil {
		c.running = false
	}
}

// Remove removes any object by kind and name behind the drivers' back, as
// drift does: "container", "network", "volume", "tunnel".
func (h *Host) Remove(kind, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch kind {
	case "container":
		delete(h.containers, name)
	case "network":
		delete(h.networks, name)
	case "volume":
		delete(h.volumes, name)
	case "tunnel":
		delete(h.tunnels, name)
	}
}

// MutateTunnel changes a live tunnel behind the driver's back.
func (h *Host) MutateTunnel(name string, f func(t *drivers.Tunnel)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.tunnels[name]; t != nil {
		f(t)
	}
}

// Render prints the host's state, one object a line, sorted: for golden
// files and failure messages.
func (h *Host) Render() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "host %s\n", h.name)
	for _, name := range slices.Sorted(maps.Keys(h.networks)) {
		n := h.networks[name]
		fmt.Fprintf(&b, "  network %s bridge=%s subnet=%s range=%s gw=%s mtu=%d owned=%v\n", name, n.spec.Bridge, n.spec.Subnet, n.spec.IPRange, n.spec.Gateway, n.spec.MTU, n.owned)
	}
	for _, name := range slices.Sorted(maps.Keys(h.volumes)) {
		fmt.Fprintf(&b, "  volume %s\n", name)
	}
	for _, name := range slices.Sorted(maps.Keys(h.tunnels)) {
		t := h.tunnels[name]
		fmt.Fprintf(&b, "  tunnel %s vni=%d local=%s bridge=%s mtu=%d up=%v peers=%s owner=%s\n", name, t.VNI, t.Local, t.Bridge, t.MTU, t.Up, strings.Join(t.Peers, ","), t.Owner)
	}
	for _, name := range slices.Sorted(maps.Keys(h.containers)) {
		c := h.containers[name]
		fmt.Fprintf(&b, "  container %s image=%s running=%v owned=%v\n", name, c.spec.Image, c.running, c.owned)
	}
	return b.String()
}

func sortedPeers(p []string) []string {
	out := slices.Clone(p)
	sort.Strings(out)
	return out
}
