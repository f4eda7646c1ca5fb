package plan

import (
	"fmt"
	"strings"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/change"
)

func (hp *hostPlanner) tunnels(replacedNets map[string]*drivers.NetworkSpec) {
	recreated := map[string]bool{} // bridges that go away with their network
	for _, n := range replacedNets {
		recreated[n.Bridge] = true
	}
	if hp.have.NoTunnels {
		for i := range hp.host.Tunnels {
			t := &hp.host.Tunnels[i]
			hp.add(change.KindTunnel, t.Name, drivers.EnvOfOwner(t.Owner), change.Skip, change.Unmanaged, PhaseTunnels,
				"tunnels on this host are not managed (no netlink access)")
		}
		return
	}
	have := map[string]drivers.Tunnel{}
	for _, t := range hp.have.Tunnels {
		have[t.Name] = t
	}
	for i := range hp.host.Tunnels {
		t := &hp.host.Tunnels[i]
		o, ok := have[t.Name]
		delete(have, t.Name)
		if why := hp.blocked["bridge "+t.Bridge]; why != "" {
			hp.add(change.KindTunnel, t.Name, drivers.EnvOfOwner(t.Owner), change.Skip, change.Blocked, PhaseTunnels, why+": no tunnel is enslaved to it")
			continue
		}
		var (
			action change.Action
			code   change.Code
			why    string
		)
		switch {
		case !ok:
			action, code, why = change.Create, change.Absent, fmt.Sprintf("absent: vni %d to %s", t.VNI, strings.Join(t.Peers, ", "))
		case immutableDiff(o, t) != "":
			action, code, why = change.Replace, change.SpecChanged, immutableDiff(o, t)
		default:
			why = tunnelDrift(o, t)
			if why == "" && recreated[t.Bridge] {
				why = "bridge " + t.Bridge + " is recreated with its network: enslave again"
			}
			if why == "" {
				continue
			}
			action, code = change.Update, change.Drifted
		}
		hp.add(change.KindTunnel, t.Name, drivers.EnvOfOwner(t.Owner), action, code, PhaseTunnels, why).Tunnel = t
	}
	for _, name := range sortedKeys(have) {
		o := have[name]
		code, why := hp.gone(map[string]string{drivers.LabelEnv: drivers.EnvOfOwner(o.Owner)}, "tunnel")
		hp.add(change.KindTunnel, name, drivers.EnvOfOwner(o.Owner), change.Delete, code, PhaseDeleteTunnels, why)
	}
}

// immutableDiff names fields that cannot be changed on a live VXLAN device.
func immutableDiff(o drivers.Tunnel, t *drivers.TunnelSpec) string {
	var why []string
	if o.VNI != t.VNI {
		why = append(why, fmt.Sprintf("vni %d → %d", o.VNI, t.VNI))
	}
	if o.Local != t.Local {
		why = append(why, fmt.Sprintf("local %s → %s", o.Local, t.Local))
	}
	if o.Port != t.Port {
		why = append(why, fmt.Sprintf("port %d → %d", o.Port, t.Port))
	}
	return strings.Join(why, "; ")
}

// tunnelDrift describes what Ensure corrects in place.
func tunnelDrift(o drivers.Tunnel, t *drivers.TunnelSpec) string {
	var why []string
	switch {
	case o.Bridge == "":
		why = append(why, "detached from bridge "+t.Bridge)
	case o.Bridge != t.Bridge:
		why = append(why, fmt.Sprintf("enslaved to %s, want %s", o.Bridge, t.Bridge))
	}
	if o.MTU != t.MTU {
		why = append(why, fmt.Sprintf("mtu %d → %d", o.MTU, t.MTU))
	}
	if !o.Up {
		why = append(why, "down")
	}
	have := map[string]bool{}
	for _, p := range o.Peers {
		have[p] = true
	}
	for _, p := range t.Peers {
		if !have[p] {
			why = append(why, "FDB entry to "+p+" missing")
		}
		delete(have, p)
	}
	for _, p := range sortedKeys(have) {
		why = append(why, "stale FDB entry to "+p)
	}
	if o.Rate != t.Rate {
		why = append(why, fmt.Sprintf("rate %d → %d bytes/s", o.Rate, t.Rate))
	}
	if o.Owner != t.Owner {
		why = append(why, fmt.Sprintf("owner %s → %s", o.Owner, t.Owner))
	}
	return strings.Join(why, "; ")
}
