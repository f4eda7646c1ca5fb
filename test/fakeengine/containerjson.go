package fakeengine

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
)

// psFilters are the filters dockerd accepts on a container list. The fake
// applies ancestor, exited, id, label, name, network, status and volume;
// the others are accepted and ignored.
var psFilters = map[string]bool{
	"ancestor": true, "before": true, "exited": true, "id": true, "isolation": true, "label": true,
	"name": true, "status": true, "health": true, "since": true, "volume": true, "network": true,
	"is-task": true, "publish": true, "expose": true,
}

var validStatus = map[string]bool{"created": true, "restarting": true, "running": true, "removing": true, "paused": true, "exited": true, "dead": true}

// containerList serves GET /containers/json, newest first; without all=1
// only running (and paused) containers.
func (e *Engine) containerList(w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	f, err := filters.FromJSON(q.Get("filters"))
	if err != nil {
		return errInvalid("%v", err)
	}
	if err := f.Validate(psFilters); err != nil {
		return errInvalid("%v", err)
	}
	for _, s := range f.Get("status") {
		if !validStatus[s] {
			return errInvalid("invalid filter 'status=%s'", s)
		}
	}
	all := boolParam(r, "all")
	limit, _ := strconv.Atoi(q.Get("limit"))
	names, ids := newMatcher(f, "name"), newMatcher(f, "id")
	now := time.Now()

	e.mu.Lock()
	out := []container.Summary{}
	for _, c := range e.sortedContainers() {
		if limit > 0 && len(out) == limit {
			break
		}
		if !all && !c.running() && !f.Contains("status") {
			continue
		}
		if !names.match(c.name) && !names.match("/"+c.name) || !ids.match(c.id) ||
			!f.MatchKVList("label", c.cfg.Labels) || !f.ExactMatch("status", c.st.status) ||
			!e.listMatches(c, f) {
			continue
		}
		out = append(out, e.summaryJSON(c, now))
	}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listMatches applies the ancestor, exited, network and volume filters.
func (e *Engine) listMatches(c *ctr, f filters.Args) bool {
	if f.Contains("exited") && (c.st.status != container.StateExited || !f.ExactMatch("exited", strconv.Itoa(c.st.exitCode))) {
		return false
	}
	if f.Contains("ancestor") && !f.ExactMatch("ancestor", c.cfg.Image) && !f.ExactMatch("ancestor", c.imageID) {
		return false
	}
	if f.Contains("network") && !slices.ContainsFunc(keysOf(c.eps), func(k string) bool {
		n, err := e.findNetwork(k)
		return f.ExactMatch("network", k) || err == nil && (f.ExactMatch("network", n.id) || f.ExactMatch("network", n.name))
	}) {
		return false
	}
	if f.Contains("volume") && !slices.ContainsFunc(c.mounts, func(m mountPoint) bool {
		return f.ExactMatch("volume", m.name) || f.ExactMatch("volume", m.dest)
	}) {
		return false
	}
	return true
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// summaryJSON renders c as one list entry. Maps that never change after
// create (labels) are shared, the rest copied. e.mu must be held.
func (e *Engine) summaryJSON(c *ctr, now time.Time) container.Summary {
	s := container.Summary{
		ID:      c.id,
		Names:   []string{"/" + c.name},
		Image:   c.cfg.Image,
		ImageID: c.imageID,
		Command: commandString(c.cfg),
		Created: c.created.Unix(),
		Ports:   []container.Port{},
		Labels:  c.cfg.Labels,
		State:   c.st.status,
		Status:  statusString(c, now),
		Mounts:  mountPointsJSON(c),
	}
	if c.ref != "" && e.tags[c.ref] != c.imageID {
		s.Image = c.imageID // the reference moved on, as dockerd shows it
	}
	s.HostConfig.NetworkMode = string(c.host.networkMode)
	s.NetworkSettings = &container.NetworkSettingsSummary{Networks: e.endpointsJSON(c, false)}
	for port, bindings := range portsJSON(c) {
		p, _ := strconv.Atoi(port.Port())
		if len(bindings) == 0 {
			s.Ports = append(s.Ports, container.Port{PrivatePort: uint16(p), Type: port.Proto()})
		}
		for _, b := range bindings {
			hp, _ := strconv.Atoi(b.HostPort)
			s.Ports = append(s.Ports, container.Port{IP: b.HostIP, PrivatePort: uint16(p), PublicPort: uint16(hp), Type: port.Proto()})
		}
	}
	return s
}

// containerInspect serves GET /containers/{id}/json.
func (e *Engine) containerInspect(w http.ResponseWriter, _ *http.Request, term string) error {
	e.mu.Lock()
	c, err := e.findContainer(term)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	out := e.inspectJSON(c)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
	return nil
}

// inspectJSON renders c as inspect does. e.mu must be held.
func (e *Engine) inspectJSON(c *ctr) container.InspectResponse {
	full := append(slices.Clone([]string(c.cfg.Entrypoint)), c.cfg.Cmd...)
	path, args := "", []string{}
	if len(full) > 0 {
		path, args = full[0], full[1:]
	}
	st := c.st
	base := &container.ContainerJSONBase{
		ID: c.id, Created: c.created.UTC().Format(time.RFC3339Nano), Path: path, Args: args,
		State: &container.State{
			Status: st.status, Running: c.running(), Paused: st.status == container.StatePaused,
			Pid: st.pid, ExitCode: st.exitCode, Error: st.err,
			StartedAt: timeJSON(st.startedAt), FinishedAt: timeJSON(st.finishedAt),
		},
		Image:          c.imageID,
		ResolvConfPath: "/var/lib/docker/containers/" + c.id + "/resolv.conf",
		HostnamePath:   "/var/lib/docker/containers/" + c.id + "/hostname",
		HostsPath:      "/var/lib/docker/containers/" + c.id + "/hosts",
		LogPath:        "/var/lib/docker/containers/" + c.id + "/" + c.id + "-json.log",
		Name:           "/" + c.name, RestartCount: st.restarts, Driver: "overlay2", Platform: "linux",
		HostConfig: &container.HostConfig{
			NetworkMode: c.host.networkMode, RestartPolicy: c.host.restart,
			PortBindings: portMap(c.host.publish), Binds: slices.Clone(c.host.binds),
			Mounts: slices.Clone(c.host.mounts), AutoRemove: c.host.autoRemove, Privileged: c.host.privileged,
			ExtraHosts: slices.Clone(c.host.extraHosts),
			Resources:  container.Resources{NanoCPUs: c.host.nanoCPUs, Memory: c.host.memory},
		},
	}
	cfg := *c.cfg
	ns := &container.NetworkSettings{Networks: e.endpointsJSON(c, true)}
	ns.Ports = portsJSON(c)
	if c.running() {
		ns.SandboxID = c.id[32:]
		ns.SandboxKey = "/var/run/docker/netns/" + shortID(ns.SandboxID)
	}
	if ep, ok := ns.Networks["bridge"]; ok {
		// API 1.41 still reports the default bridge at the top level.
		//lint:ignore SA1019 deprecated only in later API versions
		ns.EndpointID, ns.Gateway, ns.IPAddress = ep.EndpointID, ep.Gateway, ep.IPAddress
		//lint:ignore SA1019 deprecated only in later API versions
		ns.IPPrefixLen, ns.MacAddress = ep.IPPrefixLen, ep.MacAddress
	}
	return container.InspectResponse{ContainerJSONBase: base, Mounts: mountPointsJSON(c), Config: &cfg, NetworkSettings: ns}
}

// endpointsJSON renders NetworkSettings.Networks: the requested settings,
// and the operational data (IDs, address, gateway, MAC) while running.
func (e *Engine) endpointsJSON(c *ctr, detailed bool) map[string]*network.EndpointSettings {
	out := make(map[string]*network.EndpointSettings, len(c.eps))
	for key, ep := range c.eps {
		es := &network.EndpointSettings{}
		if detailed {
			es.Aliases, es.Links, es.DriverOpts = slices.Clone(ep.cfg.Aliases), slices.Clone(ep.cfg.Links), ep.cfg.DriverOpts
			es.MacAddress = ep.cfg.MacAddress
		}
		if ep.cfg.IPAMConfig != nil {
			es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ep.cfg.IPAMConfig.IPv4Address, IPv6Address: ep.cfg.IPAMConfig.IPv6Address}
		}
		if ep.active() {
			n := e.networks[ep.netID]
			es.NetworkID, es.EndpointID, es.MacAddress = n.id, ep.id, ep.mac
			if ep.ip.IsValid() {
				es.IPAddress, es.IPPrefixLen, es.Gateway = ep.ip.String(), n.pool.subnet.Bits(), n.pool.gateway.String()
			}
			if detailed && container.NetworkMode(n.name).IsUserDefined() {
				es.DNSNames = dnsNames(c, ep.cfg.Aliases)
			}
		}
		out[key] = es
	}
	return out
}

// dnsNames is the name list dockerd gives an endpoint on a user network.
func dnsNames(c *ctr, aliases []string) []string {
	names := append([]string{c.name}, aliases...)
	names = append(names, shortID(c.id), c.cfg.Hostname)
	var out []string
	for _, n := range names {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// portsJSON is NetworkSettings.Ports: while running, every exposed or
// published port with its host bindings; empty otherwise.
func portsJSON(c *ctr) nat.PortMap {
	out := nat.PortMap{}
	if !c.running() {
		return out
	}
	for p := range c.cfg.ExposedPorts {
		out[p] = nil
	}
	for _, b := range c.ports {
		out[b.port] = append(out[b.port], nat.PortBinding{HostIP: b.hostIP, HostPort: strconv.Itoa(b.hostPort)})
	}
	return out
}

// mountPointsJSON renders the container's mounts.
func mountPointsJSON(c *ctr) []container.MountPoint {
	out := make([]container.MountPoint, 0, len(c.mounts))
	for _, m := range c.mounts {
		mp := container.MountPoint{Type: m.typ, Destination: m.dest, RW: m.rw}
		switch m.typ {
		case mount.TypeVolume:
			mp.Name, mp.Source, mp.Driver = m.name, "/var/lib/docker/volumes/"+m.name+"/_data", "local"
		case mount.TypeBind:
			mp.Source, mp.Propagation = m.source, mount.PropagationRPrivate
		}
		out = append(out, mp)
	}
	return out
}

// commandString is the list's Command column: path and quoted arguments.
func commandString(cfg *container.Config) string {
	full := append(slices.Clone([]string(cfg.Entrypoint)), cfg.Cmd...)
	if len(full) == 0 {
		return ""
	}
	args := make([]string, 0, len(full)-1)
	for _, a := range full[1:] {
		if strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		args = append(args, a)
	}
	return strings.TrimSpace(full[0] + " " + strings.Join(args, " "))
}

// timeJSON formats a state time; the zero time is dockerd's 0001-01-01.
func timeJSON(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// statusString is the list's Status column ("Up 5 minutes", ...).
func statusString(c *ctr, now time.Time) string {
	switch c.st.status {
	case container.StateCreated:
		return "Created"
	case container.StateRunning:
		return "Up " + humanDuration(now.Sub(c.st.startedAt))
	case container.StatePaused:
		return "Up " + humanDuration(now.Sub(c.st.startedAt)) + " (Paused)"
	case container.StateExited:
		return fmt.Sprintf("Exited (%d) %s ago", c.st.exitCode, humanDuration(now.Sub(c.st.finishedAt)))
	case container.StateRemoving:
		return "Removal In Progress"
	}
	return "Dead"
}

// humanDuration is go-units' HumanDuration, which the real list uses.
func humanDuration(d time.Duration) string {
	seconds, minutes := int(d.Seconds()), int(d.Minutes())
	hours := int(d.Hours() + 0.5)
	switch {
	case seconds < 1:
		return "Less than a second"
	case seconds == 1:
		return "1 second"
	case seconds < 60:
		return fmt.Sprintf("%d seconds", seconds)
	case minutes == 1:
		return "About a minute"
	case minutes < 60:
		return fmt.Sprintf("%d minutes", minutes)
	case hours == 1:
		return "About an hour"
	case hours < 48:
		return fmt.Sprintf("%d hours", hours)
	case hours < 24*7*2:
		return fmt.Sprintf("%d days", hours/24)
	case hours < 24*30*2:
		return fmt.Sprintf("%d weeks", hours/24/7)
	case hours < 24*365*2:
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}
