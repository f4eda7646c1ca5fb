package compare

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/schema"
)

// compareNetworks compares the Docker networks of every host by name.
func compareNetworks(b, h *side) map[string][]Change {
	out := map[string][]Change{}
	for _, host := range unionKeys(b.networks, h.networks) {
		bn, hn := b.networks[host], h.networks[host]
		for _, name := range unionKeys(bn, hn) {
			old, inBase := bn[name]
			cur, inHead := hn[name]
			c := Change{Ref: change.Ref{Kind: change.KindNetwork, Name: name}}
			switch {
			case inBase && inHead:
				c.Fields = networkFields(old, cur)
				if len(c.Fields) == 0 {
					continue
				}
				c.Action, c.Code = change.Replace, change.SpecChanged
				c.Env = cur.Labels[drivers.LabelEnv]
			case inHead:
				c.Action, c.Code, c.Env = change.Create, change.Absent, cur.Labels[drivers.LabelEnv]
				c.Note = fmt.Sprintf("subnet %s, vni %s, mtu %d, host block %s", cur.Subnet, vniOf(cur.Bridge), cur.MTU, cur.IPRange)
			default:
				c.Action, c.Code, c.Env = change.Delete, change.Removed, old.Labels[drivers.LabelEnv]
			}
			out[host] = append(out[host], c)
		}
	}
	return out
}

// vniOf reads the VNI out of a bridge name (rs-br-<vni>).
func vniOf(bridge string) string {
	if v, ok := strings.CutPrefix(bridge, "rs-br-"); ok {
		return v
	}
	return bridge
}

func networkFields(a, b drivers.NetworkSpec) []change.Field {
	var out []change.Field
	if a.Subnet != b.Subnet {
		out = append(out, change.Field{Name: "subnet", From: a.Subnet, To: b.Subnet})
	}
	if a.MTU != b.MTU {
		out = append(out, change.Field{Name: "mtu", From: strconv.Itoa(a.MTU), To: strconv.Itoa(b.MTU)})
	}
	if a.Bridge != b.Bridge {
		out = append(out, change.Field{Name: "vni", From: vniOf(a.Bridge), To: vniOf(b.Bridge)})
	}
	if a.IPRange != b.IPRange {
		out = append(out, change.Field{Name: "host block", From: a.IPRange, To: b.IPRange})
	}
	if a.Gateway != b.Gateway {
		out = append(out, change.Field{Name: "gateway", From: a.Gateway, To: b.Gateway})
	}
	return out
}

// compareTunnels compares the VXLAN devices of every host by owner
// (env/network), so a VNI change reads as a change, not a rename.
func compareTunnels(b, h *side) map[string][]Change {
	out := map[string][]Change{}
	for _, host := range unionKeys(b.tunnels, h.tunnels) {
		bt, ht := b.tunnels[host], h.tunnels[host]
		for _, owner := range unionKeys(bt, ht) {
			old, inBase := bt[owner]
			cur, inHead := ht[owner]
			env, _, _ := strings.Cut(owner, "/")
			c := Change{Ref: change.Ref{Kind: change.KindTunnel, Env: env}}
			switch {
			case inBase && inHead:
				c.Fields = tunnelFields(old, cur)
				if len(c.Fields) == 0 {
					continue
				}
				// VNI, local address and port cannot change on a live
				// device: it is replaced, as the live plan does.
				c.Action, c.Code, c.Name = change.Update, change.SpecChanged, cur.Name
				if old.VNI != cur.VNI || old.Local != cur.Local || old.Port != cur.Port {
					c.Action = change.Replace
				}
			case inHead:
				c.Action, c.Code, c.Name = change.Create, change.Absent, cur.Name
				c.Note = fmt.Sprintf("%s, vni %d, mtu %d, peers %s", owner, cur.VNI, cur.MTU, strings.Join(cur.Peers, ", "))
			default:
				c.Action, c.Code, c.Name = change.Delete, change.Removed, old.Name
				c.Note = owner
			}
			out[host] = append(out[host], c)
		}
	}
	return out
}

func tunnelFields(a, b drivers.TunnelSpec) []change.Field {
	var out []change.Field
	if a.VNI != b.VNI {
		out = append(out, change.Field{Name: "vni", From: strconv.Itoa(a.VNI), To: strconv.Itoa(b.VNI)})
	}
	if a.Local != b.Local {
		out = append(out, change.Field{Name: "local", From: a.Local, To: b.Local})
	}
	if a.MTU != b.MTU {
		out = append(out, change.Field{Name: "mtu", From: strconv.Itoa(a.MTU), To: strconv.Itoa(b.MTU)})
	}
	set := func(ps []string) map[string]bool {
		m := map[string]bool{}
		for _, p := range ps {
			m[p] = true
		}
		return m
	}
	if d := compareKeyed(set(a.Peers), set(b.Peers), func(bool, bool) string { return "" }).String(); d != "" {
		out = append(out, change.Field{Name: "peers", Detail: d})
	}
	if a.Rate != b.Rate {
		out = append(out, change.Field{Name: "rate", From: rate(a.Rate), To: rate(b.Rate)})
	}
	if a.Port != b.Port {
		out = append(out, change.Field{Name: "port", From: strconv.Itoa(a.Port), To: strconv.Itoa(b.Port)})
	}
	return out
}

func rate(bytesPerSecond uint64) string {
	if bytesPerSecond == 0 {
		return "unlimited"
	}
	bits := bytesPerSecond * 8
	switch {
	case bits%1_000_000_000 == 0:
		return strconv.FormatUint(bits/1_000_000_000, 10) + "gbit"
	case bits%1_000_000 == 0:
		return strconv.FormatUint(bits/1_000_000, 10) + "mbit"
	case bits%1_000 == 0:
		return strconv.FormatUint(bits/1_000, 10) + "kbit"
	}
	return strconv.FormatUint(bits, 10) + "bit"
}

// compareVolumes lists volumes the head adds, and those it no longer
// wants: those are kept with their data, never deleted by a change.
func compareVolumes(b, h *side) map[string][]Change {
	out := map[string][]Change{}
	for _, host := range unionKeys(b.volumes, h.volumes) {
		bv, hv := b.volumes[host], h.volumes[host]
		for _, name := range unionKeys(bv, hv) {
			old, inBase := bv[name]
			cur, inHead := hv[name]
			switch {
			case inBase && inHead:
				continue // volumes have no spec to change
			case inHead:
				out[host] = append(out[host], Change{Action: change.Create, Code: change.Absent,
					Ref: change.Ref{Kind: change.KindVolume, Name: name, Env: cur.Labels[drivers.LabelEnv], Group: cur.Labels[drivers.LabelGroup]}})
			default:
				out[host] = append(out[host], Change{Action: change.Keep, Code: change.Kept,
					Ref:  change.Ref{Kind: change.KindVolume, Name: name, Env: old.Labels[drivers.LabelEnv], Group: old.Labels[drivers.LabelGroup]},
					Note: "no longer used: kept with its data"})
			}
		}
	}
	return out
}

// hostFields names what changed in a host's definition.
func hostFields(a, b schema.Host) []change.Field {
	var out []change.Field
	if a.Docker != b.Docker {
		out = append(out, change.Field{Name: "docker", From: a.Docker, To: b.Docker})
	}
	if a.Underlay != b.Underlay {
		out = append(out, change.Field{Name: "underlay", From: a.Underlay, To: b.Underlay})
	}
	if a.Netns != b.Netns {
		out = append(out, change.Field{Name: "netns", From: a.Netns, To: b.Netns})
	}
	if capacity(a.Capacity) != capacity(b.Capacity) {
		out = append(out, change.Field{Name: "capacity", From: capacity(a.Capacity), To: capacity(b.Capacity)})
	}
	if (a.TLS == nil) != (b.TLS == nil) || (a.TLS != nil && *a.TLS != *b.TLS) {
		out = append(out, change.Field{Name: "tls", Detail: "client certificate files changed"})
	}
	if d := compareKeyed(a.Labels, b.Labels, func(x, y string) string {
		if x != y {
			return x + " → " + y
		}
		return ""
	}).String(); d != "" {
		out = append(out, change.Field{Name: "labels", Detail: d})
	}
	return out
}

func capacity(c *schema.Capacity) string {
	if c == nil {
		return "undeclared"
	}
	var parts []string
	if c.CPUs > 0 {
		parts = append(parts, "cpus "+strconv.FormatFloat(c.CPUs, 'f', -1, 64))
	}
	if !c.Memory.IsZero() {
		parts = append(parts, "memory "+c.Memory.Text)
	}
	if c.Containers > 0 {
		parts = append(parts, "containers "+strconv.Itoa(c.Containers))
	}
	if len(parts) == 0 {
		return "undeclared"
	}
	return strings.Join(parts, ", ")
}

// envObjects counts what an environment has on every host of one side.
type envObjects struct {
	groups    map[string]bool
	instances int
	networks  map[string]bool // logical network names
	volumes   int
}

func (s *side) objects(env string) envObjects {
	o := envObjects{groups: map[string]bool{}, networks: map[string]bool{}}
	for _, in := range s.instances {
		if in.env == env {
			o.groups[in.group] = true
			o.instances++
		}
	}
	for _, nets := range s.networks {
		for _, n := range nets {
			if n.Labels[drivers.LabelEnv] == env {
				o.networks[n.Labels[drivers.LabelNetwork]] = true
			}
		}
	}
	for _, vols := range s.volumes {
		for _, v := range vols {
			if v.Labels[drivers.LabelEnv] == env {
				o.volumes++
			}
		}
	}
	return o
}

func (o envObjects) String() string {
	return fmt.Sprintf("%s, %s, %s", change.Count(len(o.groups), "group"), change.Count(o.instances, "instance"), change.Count(len(o.networks), "network"))
}
