package fake

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/rensei-dev/rensei/drivers"
)

type containers struct {
	h     *Host
	scope string
}

func (d containers) List(context.Context) ([]drivers.Container, error) {
	return d.list("list", func(string, string) bool { return true })
}

// Lookup lists the owned containers with one of ids or named one of names.
func (d containers) Lookup(_ context.Context, ids, names []string) ([]drivers.Container, error) {
	return d.list("lookup", func(id, name string) bool { return slices.Contains(ids, id) || slices.Contains(names, name) })
}

func (d containers) list(method string, match func(id, name string) bool) ([]drivers.Container, error) {
	h := d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("container", method, ""); err != nil {
		return nil, err
	}
	var out []drivers.Container
	for _, name := range slices.Sorted(maps.Keys(h.containers)) {
		c := h.containers[name]
		if !c.owned || !match(c.id, name) {
			continue
		}
		nets := map[string]string{}
		for _, n := range c.spec.Networks {
			nets[n.Network] = n.IPv4
		}
		var ports []string
		for _, p := range c.spec.Ports {
			if p.Host != 0 {
				ports = append(ports, fmt.Sprintf("%s/%d", p.Protocol, p.Host))
			}
		}
		out = append(out, drivers.Container{ID: c.id, Name: name, Image: c.spec.Image, Running: c.running,
			Labels: maps.Clone(c.spec.Labels), Networks: nets, HostPorts: ports})
	}
	return out, nil
}

func (d containers) Ensure(_ context.Context, spec drivers.ContainerSpec) error {
	h := d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("container", "ensure", spec.Name); err != nil {
		return err
	}
	if c := h.containers[spec.Name]; c != nil {
		switch {
		case !c.owned || c.spec.Labels[drivers.LabelScope] != spec.Labels[drivers.LabelScope]:
			return fmt.Errorf("container %s: %s: %w", spec.Name, h.name, drivers.ErrNotOwned)
		case c.spec.SpecHash() == spec.SpecHash():
			c.running = true
			return nil
		}
	}
	if h.images != nil && !h.images[spec.Image] {
		return fmt.Errorf("container %s: image %s on %s: %w", spec.Name, spec.Image, h.name, drivers.ErrImageMissing)
	}
	for _, n := range spec.Networks {
		net := h.networks[n.Network]
		switch {
		case net == nil:
			return fmt.Errorf("container %s: network %s: %w", spec.Name, n.Network, drivers.ErrNotFound)
		case !net.owned || net.spec.Labels[drivers.LabelScope] != spec.Labels[drivers.LabelScope]:
			return fmt.Errorf("container %s: network %s: %w", spec.Name, n.Network, drivers.ErrNotOwned)
		}
	}
	for _, m := range spec.Mounts {
		v := h.volumes[m.Volume]
		switch {
		case v == nil:
			// Docker would create an unlabelled volume; Rensei creates them first.
			return fmt.Errorf("container %s: volume %s: %w", spec.Name, m.Volume, drivers.ErrNotFound)
		case v.Labels[drivers.LabelManaged] != "true" || v.Labels[drivers.LabelScope] != spec.Labels[drivers.LabelScope]:
			return fmt.Errorf("container %s: volume %s: %w", spec.Name, m.Volume, drivers.ErrNotOwned)
		}
	}
	// As Docker: an address or a host port is held by one container.
	for name, c := range h.containers {
		if name == spec.Name {
			continue
		}
		for _, a := range spec.Networks {
			for _, b := range c.spec.Networks {
				if a.IPv4 != "" && a.Network == b.Network && a.IPv4 == b.IPv4 {
					return fmt.Errorf("container %s: address %s on %s is in use by %s", spec.Name, a.IPv4, a.Network, name)
				}
			}
		}
		for _, a := range spec.Ports {
			for _, b := range c.spec.Ports {
				if a.Host != 0 && a.Host == b.Host && a.Protocol == b.Protocol {
					return fmt.Errorf("container %s: host port %d is allocated to %s", spec.Name, a.Host, name)
				}
			}
		}
	}
	h.containers[spec.Name] = &container{spec: spec, id: h.id(), running: true, owned: true}
	return nil
}

func (d containers) Delete(_ context.Context, name string) error {
	h := d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("container", "delete", name); err != nil {
		return err
	}
	c := h.containers[name]
	switch {
	case c == nil:
		return nil
	case !c.owned || c.spec.Labels[drivers.LabelScope] != d.scope:
		return fmt.Errorf("container %s: %s: %w", name, h.name, drivers.ErrNotOwned)
	}
	delete(h.containers, name)
	return nil
}

type networks struct {
	h     *Host
	scope string
}

func (d networks) List(context.Context) ([]drivers.Network, error) {
	h := d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("network", "list", ""); err != nil {
		return nil, err
	}
	var out []drivers.Network
	for _, name := range slices.Sorted(maps.Keys(h.networks)) {
		if n := h.networks[name]; n.owned {
			out = append(out, drivers.Network{ID: n.id, Name: name, Bridge: n.spec.Bridge, Subnet: n.spec.Subnet, Labels: maps.Clone(n.spec.Labels)})
		}
	}
	return out, nil
}

func (d networks) Ensure(_ context.Context, spec drivers.NetworkSpec) error {
	h := d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("network", "ensure", spec.Name); err != nil {
		return err
	}
	if n := h.networks[spec.Name]; n != nil {
		switch {
		case !n.owned || n.spec.Labels[drivers.LabelScope] != spec.Labels[drivers.LabelScope]:
			return fmt.Errorf("network %s: %s: %w", spec.Name, h.name, drivers.ErrNotOwned)
		case n.spec.SpecHash() == spec.SpecHash():
			return nil
		}
		if err := h.removeNetwork(spec.Name); err != nil {
			return err
		}
	}
	// As Docker: no two networks of an engine share a bridge or overlap.
	for name, n := range h.networks {
		if n.spec.Bridge == spec.Bridge && spec.Bridge != "" {
			return fmt.Errorf("network %s: bridge %s is used by network %s", spec.Name, spec.Bridge, name)
		}
		if overlaps(n.spec.Subnet, spec.Subnet) {
			return fmt.Errorf("network %s: pool overlaps with network %s (%s)", spec.Name, name, n.spec.Subnet)
		}
	}
	h.networks[spec.Name] = &network{spec: spec, id: h.id(), owned: true}
	h.bridges[spec.Bridge] = true
	return nil
}

// overlaps reports whether two CIDRs overlap; unparsable ones never do.
func overlaps(a, b string) bool {
	pa, errA := netip.ParsePrefix(a)
	pb, errB := netip.ParsePrefix(b)
	return errA == nil && errB == nil && pa.Overlaps(pb)
}

// removeNetwork refuses while containers are attached, as Docker does, and
// detaches tunnels from its bridge, as the kernel does.
func (h *Host) removeNetwork(name string) error {
	for cname, c := range h.containers {
		for _, a := range c.spec.Networks {
			if a.Network == name {
				return fmt.Errorf("network %s: has active endpoints (%s)", name, cname)
			}
		}
	}
	bridge := h.networks[name].spec.Bridge
	delete(h.bridges, bridge)
	for _, t := range h.tunnels {
		if t.Bridge == bridge {
			t.Bridge = ""
		}
	}
	delete(h.networks, name)
	return nil
}

func (d networks) Delete(_ context.Context, name string) error {
	h := d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("network", "delete", name); err != nil {
		return err
	}
	n := h.networks[name]
	switch {
	case n == nil:
		return nil
	case !n.owned || n.spec.Labels[drivers.LabelScope] != d.scope:
		return fmt.Errorf("network %s: %s: %w", name, h.name, drivers.ErrNotOwned)
	}
	return h.removeNetwork(name)
}

// Names lists every network, owned or not, with its owner.
func (d networks) Names(context.Context) (map[string]drivers.Owner, error) {
	h := d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("network", "list", ""); err != nil {
		return nil, err
	}
	out := map[string]drivers.Owner{}
	for name, n := range h.networks {
		out[name] = drivers.Owner{Managed: n.owned, Scope: n.spec.Labels[drivers.LabelScope]}
	}
	return out, nil
}

type volumes struct {
	h     *Host
	scope string
}

func (d volumes) List(context.Context) ([]drivers.Volume, error) {
	h := d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("volume", "list", ""); err != nil {
		return nil, err
	}
	var out []drivers.Volume
	for _, name := range slices.Sorted(maps.Keys(h.volumes)) {
		v := *h.volumes[name]
		if v.Labels[drivers.LabelManaged] != "true" {
			continue
		}
		v.Labels = maps.Clone(v.Labels)
		out = append(out, v)
	}
	return out, nil
}

// Names lists every volume, owned or not, with its owner.
func (d volumes) Names(context.Context) (map[string]drivers.Owner, error) {
	h := d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("volume", "list", ""); err != nil {
		return nil, err
	}
	out := map[string]drivers.Owner{}
	for name, v := range h.volumes {
		out[name] = drivers.Owner{Managed: v.Labels[drivers.LabelManaged] == "true", Scope: v.Labels[drivers.LabelScope]}
	}
	return out, nil
}

// MountedBy maps each volume to the containers (owned or not) mounting it.
func (d volumes) MountedBy(context.Context) (map[string][]string, error) {
	h := d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("volume", "list", ""); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(h.containers)) {
		for _, m := range h.containers[name].spec.Mounts {
			out[m.Volume] = append(out[m.Volume], name)
		}
	}
	return out, nil
}

func (d volumes) Ensure(_ context.Context, spec drivers.VolumeSpec) error {
	h := d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("volume", "ensure", spec.Name); err != nil {
		return err
	}
	v := h.volumes[spec.Name]
	switch {
	case v == nil:
		labels := maps.Clone(spec.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		labels[drivers.LabelManaged] = "true"
		h.volumes[spec.Name] = &drivers.Volume{Name: spec.Name, Labels: labels, CreatedAt: h.clock}
	case v.Labels[drivers.LabelManaged] != "true" || v.Labels[drivers.LabelScope] != spec.Labels[drivers.LabelScope]:
		return fmt.Errorf("volume %s: %s: %w", spec.Name, h.name, drivers.ErrNotOwned)
	}
	return nil
}

func (d volumes) Delete(_ context.Context, name string) error {
	h := d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("volume", "delete", name); err != nil {
		return err
	}
	if v := h.volumes[name]; v != nil && (v.Labels[drivers.LabelManaged] != "true" || v.Labels[drivers.LabelScope] != d.scope) {
		return fmt.Errorf("volume %s: %s: %w", name, h.name, drivers.ErrNotOwned)
	}
	for _, c := range h.containers {
		for _, m := range c.spec.Mounts {
			if m.Volume == name {
				return fmt.Errorf("volume %s: in use by %s", name, c.spec.Name)
			}
		}
	}
	delete(h.volumes, name)
	return nil
}

type tunnels struct {
	h     *Host
	scope string
}

func (d tunnels) List(context.Context) ([]drivers.Tunnel, error) {
	h := d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("tunnel", "list", ""); err != nil {
		return nil, err
	}
	var out []drivers.Tunnel
	for _, name := range slices.Sorted(maps.Keys(h.tunnels)) {
		t := *h.tunnels[name]
		t.Peers = sortedPeers(t.Peers)
		out = append(out, t)
	}
	return out, nil
}

func (d tunnels) Ensure(_ context.Context, spec drivers.TunnelSpec) error {
	h := d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("tunnel", "ensure", spec.Name); err != nil {
		return err
	}
	if !h.bridges[spec.Bridge] {
		return fmt.Errorf("tunnel %s: bridge %s: %w", spec.Name, spec.Bridge, drivers.ErrNotFound)
	}
	t := h.tunnels[spec.Name]
	if t != nil && ownerScope(t.Owner) != ownerScope(spec.Owner) {
		return fmt.Errorf("tunnel %s: %s: %w", spec.Name, h.name, drivers.ErrNotOwned)
	}
	if t != nil && (t.VNI != spec.VNI || t.Local != spec.Local || t.Port != spec.Port) {
		t = nil // immutable fields: recreate
	}
	if t == nil {
		t = &drivers.Tunnel{Name: spec.Name, VNI: spec.VNI, Local: spec.Local, Port: spec.Port}
		h.tunnels[spec.Name] = t
	}
	t.Bridge, t.MTU, t.Up, t.Rate, t.Owner = spec.Bridge, spec.MTU, true, spec.Rate, spec.Owner
	t.Peers = sortedPeers(spec.Peers)
	return nil
}

func (d tunnels) Delete(_ context.Context, name string) error {
	h := d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("tunnel", "delete", name); err != nil {
		return err
	}
	if t := h.tunnels[name]; t != nil && ownerScope(t.Owner) != d.scope {
		return fmt.Errorf("tunnel %s: %s: %w", name, h.name, drivers.ErrNotOwned)
	}
	delete(h.tunnels, name)
	return nil
}

func ownerScope(owner string) string {
	scope, _ := drivers.SplitOwner(owner)
	return scope
}
