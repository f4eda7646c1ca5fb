package plan

import (
	"fmt"
	"net/netip"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/change"
)

// networks plans Docker networks. It returns the specs of those being
// replaced and the names of stale ones cleared early, by Docker network name.
func (hp *hostPlanner) networks() (map[string]*drivers.NetworkSpec, map[string]bool) {
	have := map[string]drivers.Network{}
	for _, n := range hp.have.Networks {
		have[n.Name] = n
	}
	replaced := map[string]*drivers.NetworkSpec{}
	for i := range hp.host.Networks {
		n := &hp.host.Networks[i]
		env := n.Labels[drivers.LabelEnv]
		o, ok := have[n.Name]
		delete(have, n.Name)
		if owner, taken := hp.have.ForeignNetworks[n.Name]; taken {
			hp.blocked[n.Name] = fmt.Sprintf("network %s exists and is %s", n.Name, owner)
			hp.blocked["bridge "+n.Bridge] = hp.blocked[n.Name]
			hp.add(change.KindNetwork, n.Name, env, change.Skip, change.Blocked, PhaseNetworks,
				hp.blocked[n.Name]+": it is not taken over, and nothing joins it")
			continue
		}
		switch {
		case !ok && n.Subnet == "":
			hp.add(change.KindNetwork, n.Name, env, change.Create, change.Absent, PhaseNetworks,
				"absent: the environment's own bridge on this host (Docker picks its subnet)").Network = n
		case !ok:
			hp.add(change.KindNetwork, n.Name, env, change.Create, change.Absent, PhaseNetworks,
				fmt.Sprintf("absent: subnet %s, this host's block %s, gateway %s", n.Subnet, n.IPRange, n.Gateway)).Network = n
		case o.SpecHash() != n.SpecHash():
			replaced[n.Name] = n
			// Removed with the stale networks, before any network is made,
			// so that its old subnet and bridge are free for the others.
			hp.add(change.KindNetwork, n.Name, env, change.Delete, change.SpecChanged, PhaseClearNetworks,
				"spec changed: the old network is removed first")
			hp.add(change.KindNetwork, n.Name, env, change.Replace, change.SpecChanged, PhaseNetworks,
				fmt.Sprintf("spec changed (now subnet %s, block %s, bridge %s, mtu %d); its containers are recreated", n.Subnet, n.IPRange, n.Bridge, n.MTU)).Network = n
		}
	}
	cleared := map[string]bool{}
	for _, name := range sortedKeys(have) {
		o := have[name]
		code, why := hp.gone(o.Labels, "network")
		s := hp.add(change.KindNetwork, name, o.Labels[drivers.LabelEnv], change.Delete, code, PhaseDeleteNetworks, why)
		if way := hp.inTheWay(o); way != "" {
			cleared[name] = true
			s.Phase, s.Code = PhaseClearNetworks, change.InTheWay
			s.Reason += "; removed first: " + way
		}
	}
	return replaced, cleared
}

// inTheWay says why a stale network must go before the desired ones are
// made: Docker refuses a subnet overlapping another network's and a bridge
// name already in use. "" when it is not in the way.
func (hp *hostPlanner) inTheWay(o drivers.Network) string {
	stale, err := netip.ParsePrefix(o.Subnet)
	for _, n := range hp.host.Networks {
		if n.Bridge == o.Bridge && o.Bridge != "" {
			return fmt.Sprintf("network %s needs bridge %s", n.Name, n.Bridge)
		}
		if p, perr := netip.ParsePrefix(n.Subnet); err == nil && perr == nil && p.Overlaps(stale) {
			return fmt.Sprintf("its subnet %s overlaps network %s (%s)", o.Subnet, n.Name, n.Subnet)
		}
	}
	return ""
}

// volumes plans the volumes: wanted ones are made; those no longer wanted
// are kept with their data.
func (hp *hostPlanner) volumes() {
	have := make(map[string]*drivers.Volume, len(hp.have.Volumes))
	for i := range hp.have.Volumes {
		have[hp.have.Volumes[i].Name] = &hp.have.Volumes[i]
	}
	for i := range hp.host.Volumes {
		v := &hp.host.Volumes[i]
		if owner, taken := hp.have.ForeignVolumes[v.Name]; taken {
			hp.blocked[v.Name] = fmt.Sprintf("volume %s exists and is %s", v.Name, owner)
			s := hp.add(change.KindVolume, v.Name, v.Labels[drivers.LabelEnv], change.Skip, change.Blocked, PhaseVolumes,
				hp.blocked[v.Name]+": it is not taken over, and nothing mounts it")
			s.Group = v.Labels[drivers.LabelGroup]
			continue
		}
		if _, ok := have[v.Name]; !ok {
			hp.add(change.KindVolume, v.Name, v.Labels[drivers.LabelEnv], change.Create, change.Absent, PhaseVolumes, "absent").Volume = v
		}
		delete(have, v.Name)
	}
	for _, name := range sortedKeys(have) {
		o := have[name]
		_, why := hp.gone(o.Labels, "volume")
		s := hp.add(change.KindVolume, name, o.Labels[drivers.LabelEnv], change.Keep, change.Kept, PhaseDeleteNetworks,
			why+"; kept: data is only deleted by `rensei volumes prune`")
		s.Group = o.Labels[drivers.LabelGroup]
	}
}
