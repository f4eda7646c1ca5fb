package plan

import (
	"fmt"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/place"
)

func (hp *hostPlanner) containers(replacedNets map[string]*drivers.NetworkSpec, cleared map[string]bool) {
	// Networks that go away before any is made: a container on one of
	// them must be removed first, whatever its new spec says.
	going := map[string]bool{}
	for name := range replacedNets {
		going[name] = true
	}
	for name := range cleared {
		going[name] = true
	}
	have := make(map[string]*drivers.Container, len(hp.have.Containers))
	for i := range hp.have.Containers {
		have[hp.have.Containers[i].Name] = &hp.have.Containers[i]
	}
	claims := claimsOf(hp.host.Containers)
	for i := range hp.host.Containers {
		c := &hp.host.Containers[i]
		// Label look-ups only for a step: most containers need none.
		labels := func() (env, group string) { return c.Labels[drivers.LabelEnv], c.Labels[drivers.LabelGroup] }
		var o drivers.Container
		live, ok := have[c.Name]
		if ok {
			o = *live
		}
		delete(have, c.Name)
		if why := hp.uses(c); why != "" {
			env, group := labels()
			s := hp.add(change.KindContainer, c.Name, env, change.Skip, change.Blocked, PhaseContainers, why+": not created")
			s.Group = group
			continue
		}
		changed := ok && o.SpecHash() != c.SpecHash()
		blocked := ""
		if changed {
			blocked = claims.blocked(o)
		}
		var (
			action change.Action
			code   change.Code
			reason string
		)
		switch {
		case !ok:
			action, code, reason = change.Create, change.Absent, "absent"
		case blocked != "":
			// What it holds (an address, a host port) is wanted by another
			// container, which Docker would refuse: remove it first.
			env, group := labels()
			hp.add(change.KindContainer, c.Name, env, change.Delete, change.InTheWay, PhasePrepare, blocked+": removed first").Group = group
			action, code = change.Create, change.SpecChanged
			reason = place.ChangedFields(o.Labels[drivers.LabelSpecFields], c.Labels[drivers.LabelSpecFields]) + "; recreated after " + blocked
		case attachedTo(o, going) != "":
			// The network cannot be removed while the container is on it
			// (as observed, whatever the new spec says): remove first,
			// create again once the network is back.
			net := attachedTo(o, going)
			env, group := labels()
			hp.add(change.KindContainer, c.Name, env, change.Delete, change.InTheWay, PhasePrepare,
				fmt.Sprintf("network %s is removed first", net)).Group = group
			action, code, reason = change.Create, change.InTheWay, fmt.Sprintf("recreated after network %s was removed", net)
		case changed:
			action, code = change.Replace, change.SpecChanged
			reason = place.ChangedFields(o.Labels[drivers.LabelSpecFields], c.Labels[drivers.LabelSpecFields])
			if reason == "" {
				reason = "spec changed"
			}
		case !o.Running:
			action, code, reason = change.Update, change.Drifted, "stopped: start it"
		default:
			continue
		}
		env, group := labels()
		s := hp.add(change.KindContainer, c.Name, env, action, code, PhaseContainers, reason)
		s.Group, s.Container = group, c
	}
	for _, name := range sortedKeys(have) {
		o := *have[name]
		code, why := hp.gone(o.Labels, "instance")
		s := hp.add(change.KindContainer, name, o.Labels[drivers.LabelEnv], change.Delete, code, PhaseDeleteContainers, why)
		s.Group = o.Labels[drivers.LabelGroup]
		if attachedTo(o, going) != "" {
			s.Phase = PhasePrepare
		}
		if way := claims.blocked(o); way != "" {
			s.Phase = PhasePrepare
			s.Reason += "; removed first: " + way
		}
	}
}

// uses says why the container must not be made: it would join a network
// or mount a volume that is someone else's. "" when it may.
func (hp *hostPlanner) uses(c *drivers.ContainerSpec) string {
	for _, n := range c.Networks {
		if why := hp.blocked[n.Network]; why != "" {
			return why
		}
	}
	for _, m := range c.Mounts {
		if why := hp.blocked[m.Volume]; why != "" {
			return why
		}
	}
	return ""
}

// claims maps what desired containers hold exclusively on a host (a
// static address on a network, a host port) to the container holding it.
type claims map[string]string

func claimsOf(cs []drivers.ContainerSpec) claims {
	out := claims{}
	for _, c := range cs {
		for _, n := range c.Networks {
			if n.IPv4 != "" {
				out["address "+n.IPv4+" on "+n.Network] = c.Name
			}
		}
		for _, p := range c.Ports {
			if p.Host != 0 {
				out[fmt.Sprintf("host port %s/%d", p.Protocol, p.Host)] = c.Name
			}
		}
	}
	return out
}

// blocked says which of the live container's addresses or host ports
// another desired container wants, or "".
func (cl claims) blocked(o drivers.Container) string {
	for _, net := range sortedKeys(o.Networks) {
		key := "address " + o.Networks[net] + " on " + net
		if other, ok := cl[key]; ok && other != o.Name {
			return key + " is wanted by " + other
		}
	}
	for _, p := range o.HostPorts {
		key := "host port " + p
		if other, ok := cl[key]; ok && other != o.Name {
			return key + " is wanted by " + other
		}
	}
	return ""
}

// attachedTo names a network of nets the live container is on, or "".
func attachedTo(o drivers.Container, nets map[string]bool) string {
	if len(nets) == 0 {
		return "" // nothing goes away: no need to sort o's networks
	}
	for _, name := range sortedKeys(o.Networks) {
		if nets[name] {
			return name
		}
	}
	return ""
}
