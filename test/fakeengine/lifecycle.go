package fakeengine

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"
)

// setupNetworking prefixes every networking failure of a start, as dockerd.
const setupNetworking = "failed to set up container networking: "

// Ephemeral host ports for bindings without a host port.
const (
	ephemeralFirst = 32768
	ephemeralLast  = 60999
)

// bound is one published port held by a running container.
type bound struct {
	port     nat.Port // "80/tcp"
	hostIP   string   // "0.0.0.0" or "::"
	hostPort int
}

// containerStart serves POST /containers/{id}/start: 304 when it runs
// already, otherwise start's checks.
func (e *Engine) containerStart(w http.ResponseWriter, _ *http.Request, term string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(term)
	if err != nil {
		return err
	}
	switch c.st.status {
	case container.StatePaused:
		return errConflict("cannot start a paused container, try unpause instead")
	case container.StateRunning:
		return errNotModified
	case container.StateRemoving, container.StateDead:
		return errConflict("container is marked for removal and cannot be started")
	}
	if err := e.start(c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// start attaches the container's networks (allocating addresses), binds
// its published ports and marks it running, emitting connect, mount and
// start events. On failure everything it took is given back, the container
// keeps its state with State.Error set, and the error is dockerd's ("failed
// to set up container networking: ..."). e.mu must be held.
func (e *Engine) start(c *ctr) error {
	var done []*endpoint
	fail := func(err error) error {
		for _, ep := range done {
			e.deactivate(c, ep)
		}
		var ae *apiError
		if errors.As(err, &ae) {
			err = &apiError{ae.status, setupNetworking + ae.msg}
		}
		c.st.err = err.Error()
		if c.st.exitCode == 0 {
			c.st.exitCode = 128
		}
		return err
	}
	publish := false
	var gateway *endpoint
	for _, key := range c.endpointOrder() {
		ep := c.eps[key]
		name, err := e.activate(c, key, ep)
		if err != nil {
			return fail(err)
		}
		if name != key {
			delete(c.eps, key)
			c.eps[name] = ep
		}
		done = append(done, ep)
		if n := e.networks[ep.netID]; n.driver == "bridge" && !n.internal && !c.host.networkMode.IsHost() {
			publish = true
			if gateway == nil {
				gateway = ep
			}
		}
	}
	if publish {
		ports, err := e.bindPorts(c)
		if err != nil {
			return fail(&apiError{500, fmt.Sprintf("driver failed programming external connectivity on endpoint %s (%s): %v", c.name, gateway.id, err)})
		}
		c.ports = ports
	}
	for _, m := range c.mounts {
		if m.typ == mount.TypeVolume {
			e.emit(events.VolumeEventType, events.ActionMount, m.name, map[string]string{
				"driver": "local", "container": c.id, "destination": m.dest,
				"read/write": strconv.FormatBool(m.rw), "propagation": "",
			})
		}
	}
	e.pid++
	c.st = ctrState{status: container.StateRunning, pid: 1000 + e.pid, startedAt: time.Now(),
		finishedAt: c.st.finishedAt, restarts: c.st.restarts}
	e.emitContainer(c, events.ActionStart, nil)
	return nil
}

// endpointOrder is the order start attaches networks: the network mode's
// network first, then the others by name.
func (c *ctr) endpointOrder() []string {
	keys := make([]string, 0, len(c.eps))
	for k := range c.eps {
		keys = append(keys, k)
	}
	first := modeNetwork(c.host.networkMode)
	slices.SortFunc(keys, func(a, b string) int {
		switch {
		case a == first:
			return -1
		case b == first:
			return 1
		}
		return strings.Compare(a, b)
	})
	return keys
}

// portKey indexes the host ports in use on the engine.
type portKey struct {
	proto string
	port  int
}

// portHolder is one holder of a host port: the host IP and the container.
type portHolder struct {
	ip  string
	ctr string
}

// portTaken reports whether ip:port/proto collides with a held port.
// e.mu must be held.
func (e *Engine) portTaken(proto, ip string, port int) bool {
	return slices.ContainsFunc(e.hostPorts[portKey{proto, port}], func(h portHolder) bool { return ipClash(h.ip, ip) })
}

// bindPorts reserves the host ports of c's bindings, on both 0.0.0.0 and
// :: when no host IP is given (dockerd's default), lowest free ephemeral
// port first when no host port is. A port another running container
// holds fails with the port allocator's message, and nothing is kept.
// e.mu must be held.
func (e *Engine) bindPorts(c *ctr) ([]bound, error) {
	var out []bound
	for _, ps := range c.host.publish {
		proto := ps.port.Proto()
		ips := []string{"0.0.0.0", "::"}
		if ps.hostIP != "" {
			ips = []string{ps.hostIP}
		}
		var hostPort int
		if ps.hostPort == "" {
			for p := ephemeralFirst; p <= ephemeralLast && hostPort == 0; p++ {
				if !slices.ContainsFunc(ips, func(ip string) bool { return e.portTaken(proto, ip, p) }) {
					hostPort = p
				}
			}
			if hostPort == 0 {
				e.releasePorts(c.id, out)
				return nil, errors.New("no available ports")
			}
		} else {
			hostPort, _, _ = nat.ParsePortRangeToInt(ps.hostPort)
		}
		for _, ip := range ips {
			if e.portTaken(proto, ip, hostPort) {
				e.releasePorts(c.id, out)
				//lint:ignore ST1005 the port allocator's message, word for word
				return nil, fmt.Errorf("Bind for %s failed: port is already allocated", hostPortString(ip, hostPort))
			}
			k := portKey{proto, hostPort}
			e.hostPorts[k] = append(e.hostPorts[k], portHolder{ip: ip, ctr: c.id})
			out = append(out, bound{port: ps.port, hostIP: ip, hostPort: hostPort})
		}
	}
	return out, nil
}

// releasePorts gives back the host ports a container held. e.mu must be held.
func (e *Engine) releasePorts(id string, ports []bound) {
	for _, b := range ports {
		k := portKey{b.port.Proto(), b.hostPort}
		e.hostPorts[k] = slices.DeleteFunc(e.hostPorts[k], func(h portHolder) bool { return h.ctr == id })
		if len(e.hostPorts[k]) == 0 {
			delete(e.hostPorts, k)
		}
	}
}

// ipClash reports whether two host IPs of the same port collide: equal, or
// one is the unspecified address of the other's family.
func ipClash(a, b string) bool {
	v6 := func(s string) bool { return strings.Contains(s, ":") }
	if v6(a) != v6(b) {
		return false
	}
	return a == b || a == "0.0.0.0" || b == "0.0.0.0" || a == "::" || b == "::"
}

func hostPortString(ip string, port int) string {
	if strings.Contains(ip, ":") {
		return fmt.Sprintf("[%s]:%d", ip, port)
	}
	return fmt.Sprintf("%s:%d", ip, port)
}

// stopped ends a running container's process with code: ports and
// addresses are given back (disconnect events), volumes unmounted, and die
// emitted, in dockerd's order. e.mu must be held.
func (e *Engine) stopped(c *ctr, code int) {
	e.releasePorts(c.id, c.ports)
	c.ports = nil
	for _, key := range c.endpointOrder() {
		e.deactivate(c, c.eps[key])
	}
	for _, m := range c.mounts {
		if m.typ == mount.TypeVolume {
			e.emit(events.VolumeEventType, events.ActionUnmount, m.name, map[string]string{"driver": "local", "container": c.id})
		}
	}
	started := c.st.startedAt
	c.st.status, c.st.exitCode, c.st.pid, c.st.finishedAt = container.StateExited, code, 0, time.Now()
	e.emitContainer(c, events.ActionDie, map[string]string{
		"exitCode":     strconv.Itoa(code),
		"execDuration": strconv.Itoa(int(time.Since(started).Seconds())),
	})
}

// signals maps the signals the fake understands to their numbers; the
// first four end the process.
var signals = map[string]int{"KILL": 9, "TERM": 15, "INT": 2, "QUIT": 3, "HUP": 1, "USR1": 10, "USR2": 12}

// containerStop serves POST /containers/{id}/stop: the process exits at
// once with code 0 (no stop timeout is waited out); 304 when not running.
// Restart policies do not apply to a stopped container.
func (e *Engine) containerStop(w http.ResponseWriter, _ *http.Request, term string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(term)
	if err != nil {
		return err
	}
	if !c.running() {
		return errNotModified
	}
	c.st.manualStop = true
	e.emitContainer(c, events.ActionKill, map[string]string{"signal": "15"})
	e.exited(c, 0)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// containerKill serves POST /containers/{id}/kill. KILL, TERM, INT and QUIT
// end the process (exit code 128+signal); other signals only emit kill.
func (e *Engine) containerKill(w http.ResponseWriter, r *http.Request, term string) error {
	sig := strings.TrimPrefix(strings.ToUpper(r.URL.Query().Get("signal")), "SIG")
	if sig == "" {
		sig = "KILL"
	}
	num, ok := signals[sig]
	if !ok {
		if n, err := strconv.Atoi(sig); err == nil && n > 0 && n < 65 {
			num = n
		} else {
			return errInvalid("Invalid signal: %s", r.URL.Query().Get("signal"))
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(term)
	if err != nil {
		return err
	}
	if !c.running() {
		return errConflict("cannot kill container: %s: container %s is not running", term, c.id)
	}
	e.emitContainer(c, events.ActionKill, map[string]string{"signal": strconv.Itoa(num)})
	if num == 9 || num == 15 || num == 2 || num == 3 {
		c.st.manualStop = true
		e.exited(c, 128+num)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// exited ends the process after a stop or kill, then removes an
// auto-remove container. e.mu must be held.
func (e *Engine) exited(c *ctr, code int) {
	e.stopped(c, code)
	if c.st.manualStop {
		e.emitContainer(c, events.ActionStop, nil)
	}
	if c.host.autoRemove {
		e.destroy(c, true)
	}
}

// containerPause serves POST /containers/{id}/pause.
func (e *Engine) containerPause(w http.ResponseWriter, _ *http.Request, term string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(term)
	if err != nil {
		return err
	}
	switch c.st.status {
	case container.StatePaused:
		return errConflict("Container %s is already paused", c.id)
	case container.StateRunning:
	default:
		return errConflict("Container %s is not running", c.id)
	}
	c.st.status = container.StatePaused
	e.emitContainer(c, events.ActionPause, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// containerUnpause serves POST /containers/{id}/unpause.
func (e *Engine) containerUnpause(w http.ResponseWriter, _ *http.Request, term string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(term)
	if err != nil {
		return err
	}
	if c.st.status != container.StatePaused {
		return errSystem("Container %s is not paused", c.id)
	}
	c.st.status = container.StateRunning
	e.emitContainer(c, events.ActionUnPause, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Exit simulates the main process of a running container exiting with
// code (a crash, or a command that finished): die is emitted and the
// container's restart policy applies at once (always and unless-stopped
// restart it; on-failure does for a non-zero code, up to its retry count),
// without dockerd's back-off delay. An auto-remove container is removed
// instead. It fails if no container has that name or ID, or it is not running.
func (e *Engine) Exit(name string, code int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(name)
	if err != nil {
		return err
	}
	if !c.running() {
		return fmt.Errorf("fakeengine: container %s is not running", name)
	}
	e.stopped(c, code)
	if c.host.autoRemove {
		e.destroy(c, true)
		return nil
	}
	p := c.host.restart
	restart := p.IsAlways() || p.IsUnlessStopped() ||
		(p.IsOnFailure() && code != 0 && (p.MaximumRetryCount == 0 || c.st.restarts < p.MaximumRetryCount))
	if !restart {
		return nil
	}
	c.st.restarts++
	if err := e.start(c); err != nil {
		return fmt.Errorf("fakeengine: container %s: restart: %w", name, err)
	}
	return nil
}
