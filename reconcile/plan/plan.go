// Package plan computes the steps that turn observed state into desired
// state. It does no I/O and is deterministic: the same inputs give the same
// steps in the same order, each with an action and a reason in words.
package plan

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/place"
)

// Action is what a step does.
type Action string

const (
	Create  Action = "create"
	Replace Action = "replace" // delete and create again: the spec changed
	Update  Action = "update"  // correct in place (start a container, fix a tunnel)
	Delete  Action = "delete"
	Skip    Action = "skip" // nothing is done; the reason says why
)

// Kind is the kind of object a step acts on.
type Kind string

const (
	KindHost      Kind = "host"
	KindNetwork   Kind = "network"
	KindVolume    Kind = "volume"
	KindTunnel    Kind = "tunnel"
	KindContainer Kind = "container"
)

// Phase orders steps on one host: add before delete, networks before the
// tunnels enslaved to their bridges, containers after both.
type Phase int

const (
	// PhasePrepare removes containers attached to a network that is
	// replaced, or cleared to make room.
	PhasePrepare Phase = iota + 1
	// PhaseClearNetworks removes stale networks that stand in the way of a
	// new one (an overlapping subnet or the same bridge): Docker refuses
	// both, so here delete must come before add.
	PhaseClearNetworks
	PhaseNetworks
	PhaseVolumes
	PhaseTunnels
	PhaseContainers
	PhaseDeleteContainers
	PhaseDeleteTunnels
	PhaseDeleteNetworks
)

// Step is one change on one host.
type Step struct {
	Host   string `json:"host"`
	Kind   Kind   `json:"kind"`
	Name   string `json:"name"`
	Action Action `json:"action"`
	Reason string `json:"reason"`
	Phase  Phase  `json:"phase"`
	// Env names the environment the object belongs to, when known.
	Env string `json:"env,omitempty"`

	Container *drivers.ContainerSpec `json:"container,omitempty"`
	Network   *drivers.NetworkSpec   `json:"network,omitempty"`
	Volume    *drivers.VolumeSpec    `json:"volume,omitempty"`
	Tunnel    *drivers.TunnelSpec    `json:"tunnel,omitempty"`
}

// String renders the step as one line: "site/host: create container x: reason".
func (s Step) String() string {
	return fmt.Sprintf("%s: %s %s %s: %s", s.Host, s.Action, s.Kind, s.Name, s.Reason)
}

// Plan is the ordered steps for every host.
type Plan struct {
	Commit string `json:"commit,omitempty"`
	Steps  []Step `json:"steps"`
	// Warnings are what a reviewer must not miss, such as a probable rename.
	Warnings []string `json:"warnings,omitempty"`
}

// Changes counts the steps that change something (not Skip).
func (p Plan) Changes() int {
	n := 0
	for _, s := range p.Steps {
		if s.Action != Skip {
			n++
		}
	}
	return n
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return p.Changes() == 0 }

// Observed is the live state of every host, keyed "site/host".
type Observed map[string]HostState

// HostState is what the drivers listed on one host. Err set means the host
// could not be observed: its part of the plan is skipped.
type HostState struct {
	Status     drivers.HostStatus  `json:"status"`
	Err        error               `json:"-"`
	Containers []drivers.Container `json:"containers"`
	Networks   []drivers.Network   `json:"networks"`
	Volumes    []drivers.Volume    `json:"volumes"`
	Tunnels    []drivers.Tunnel    `json:"tunnels"`
	// NoTunnels: the host's tunnels are not observed (no netlink access);
	// tunnel steps are skipped rather than planned blind.
	NoTunnels bool `json:"noTunnels,omitempty"`
}

// Compute returns the steps that take have to want. It does no I/O and is
// deterministic. Hosts absent from want (not in the topology) are ignored;
// hosts absent from have are planned as empty.
func Compute(want *place.Desired, have Observed) Plan {
	p := Plan{Commit: want.Commit}
	where := indexInstances(want)
	for i := range want.Hosts {
		h := &want.Hosts[i]
		obs := have[h.Key]
		if obs.Err != nil {
			p.Steps = append(p.Steps, Step{Host: h.Key, Kind: KindHost, Name: h.Key, Action: Skip,
				Reason: "host unreachable, its part of the plan is skipped: " + obs.Err.Error()})
			continue
		}
		hp := hostPlanner{want: want, where: where, host: h, have: obs}
		p.Steps = append(p.Steps, hp.steps()...)
	}
	sort.SliceStable(p.Steps, func(i, j int) bool {
		a, b := p.Steps[i], p.Steps[j]
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		if a.Phase != b.Phase {
			return a.Phase < b.Phase
		}
		return a.Name < b.Name
	})
	p.Warnings = renameWarnings(want, have, where)
	return p
}

type hostPlanner struct {
	want  *place.Desired
	where instances
	host  *place.Host
	have  HostState
	out   []Step
}

func (hp *hostPlanner) add(s Step) {
	s.Host = hp.host.Key
	hp.out = append(hp.out, s)
}

func (hp *hostPlanner) steps() []Step {
	replaced, cleared := hp.networks()
	hp.volumes()
	hp.tunnels(replaced)
	hp.containers(replaced, cleared)
	return hp.out
}

// instances indexes the desired containers once per plan, so explaining a
// removal does not scan every host.
type instances struct {
	group map[string]bool   // "env/group" → desired somewhere
	host  map[string]string // "env/group/instance" → host key
}

func indexInstances(want *place.Desired) instances {
	idx := instances{group: map[string]bool{}, host: map[string]string{}}
	for _, h := range want.Hosts {
		for _, c := range h.Containers {
			eg := c.Labels[drivers.LabelEnv] + "/" + c.Labels[drivers.LabelGroup]
			idx.group[eg] = true
			idx.host[eg+"/"+c.Labels[drivers.LabelInstance]] = h.Key
		}
	}
	return idx
}

// goneReason explains why an owned object is no longer desired.
func (hp *hostPlanner) goneReason(labels map[string]string, what string) string {
	env := labels[drivers.LabelEnv]
	st, ok := hp.want.Env(env)
	switch {
	case env == "":
		return what + " is not in the configuration"
	case !ok:
		return fmt.Sprintf("environment %q was removed from the configuration", env)
	case st.State == place.Ended:
		return fmt.Sprintf("environment %q ended at %s", env, st.Until.Format("2006-01-02 15:04 MST"))
	case st.State == place.Scheduled:
		return fmt.Sprintf("environment %q is scheduled from %s", env, st.From.Format("2006-01-02 15:04 MST"))
	}
	g, inst := labels[drivers.LabelGroup], labels[drivers.LabelInstance]
	if g == "" {
		return what + " is no longer placed on this host"
	}
	elsewhere := hp.where.host[env+"/"+g+"/"+inst]
	if elsewhere == hp.host.Key {
		elsewhere = ""
	}
	switch {
	case !hp.where.group[env+"/"+g]:
		return fmt.Sprintf("group %q is not in environment %q any more (renamed or removed)", g, env)
	case elsewhere != "":
		return fmt.Sprintf("%s %q moves to %s", what, inst, elsewhere)
	case inst != "":
		return fmt.Sprintf("%s %q left group %q (member removed or fewer replicas)", what, inst, g)
	}
	return what + " is no longer placed on this host"
}

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
		switch {
		case !ok:
			hp.add(Step{Kind: KindNetwork, Name: n.Name, Env: env, Action: Create, Phase: PhaseNetworks, Network: n,
				Reason: fmt.Sprintf("absent: subnet %s, this host's block %s, gateway %s", n.Subnet, n.IPRange, n.Gateway)})
		case o.SpecHash() != n.SpecHash():
			replaced[n.Name] = n
			// Removed with the stale networks, before any network is made,
			// so that its old subnet and bridge are free for the others.
			hp.add(Step{Kind: KindNetwork, Name: n.Name, Env: env, Action: Delete, Phase: PhaseClearNetworks,
				Reason: "spec changed: the old network is removed first"})
			hp.add(Step{Kind: KindNetwork, Name: n.Name, Env: env, Action: Replace, Phase: PhaseNetworks, Network: n,
				Reason: fmt.Sprintf("spec changed (now subnet %s, block %s, bridge %s, mtu %d); its containers are recreated", n.Subnet, n.IPRange, n.Bridge, n.MTU)})
		}
	}
	cleared := map[string]bool{}
	for _, name := range sortedKeys(have) {
		o := have[name]
		step := Step{Kind: KindNetwork, Name: name, Env: o.Labels[drivers.LabelEnv], Action: Delete, Phase: PhaseDeleteNetworks,
			Reason: hp.goneReason(o.Labels, "network")}
		if why := hp.inTheWay(o); why != "" {
			cleared[name] = true
			step.Phase = PhaseClearNetworks
			step.Reason += "; removed first: " + why
		}
		hp.add(step)
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

func (hp *hostPlanner) volumes() {
	have := map[string]drivers.Volume{}
	for _, v := range hp.have.Volumes {
		have[v.Name] = v
	}
	for i := range hp.host.Volumes {
		v := &hp.host.Volumes[i]
		if _, ok := have[v.Name]; !ok {
			hp.add(Step{Kind: KindVolume, Name: v.Name, Env: v.Labels[drivers.LabelEnv], Action: Create, Phase: PhaseVolumes, Volume: v, Reason: "absent"})
		}
		delete(have, v.Name)
	}
	for _, name := range sortedKeys(have) {
		o := have[name]
		hp.add(Step{Kind: KindVolume, Name: name, Env: o.Labels[drivers.LabelEnv], Action: Skip, Phase: PhaseDeleteNetworks,
			Reason: hp.goneReason(o.Labels, "volume") + "; kept: data is only deleted by `rensei volumes prune`"})
	}
}

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
	have := map[string]drivers.Container{}
	for _, c := range hp.have.Containers {
		have[c.Name] = c
	}
	claims := claimsOf(hp.host.Containers)
	for i := range hp.host.Containers {
		c := &hp.host.Containers[i]
		env := c.Labels[drivers.LabelEnv]
		o, ok := have[c.Name]
		delete(have, c.Name)
		step := Step{Kind: KindContainer, Name: c.Name, Env: env, Phase: PhaseContainers, Container: c}
		blocked := ""
		if ok && o.SpecHash() != c.SpecHash() {
			blocked = claims.blocked(o)
		}
		switch {
		case !ok:
			step.Action, step.Reason = Create, "absent"
		case blocked != "":
			// What it holds (an address, a host port) is wanted by another
			// container, which Docker would refuse: remove it first.
			why := blocked
			hp.add(Step{Kind: KindContainer, Name: c.Name, Env: env, Action: Delete, Phase: PhasePrepare,
				Reason: why + ": removed first"})
			step.Action = Create
			step.Reason = place.ChangedFields(o.Labels[drivers.LabelSpecFields], c.Labels[drivers.LabelSpecFields]) + "; recreated after " + why
		case attachedTo(o, going) != "":
			// The network cannot be removed while the container is on it
			// (as observed, whatever the new spec says): remove first,
			// create again once the network is back.
			net := attachedTo(o, going)
			hp.add(Step{Kind: KindContainer, Name: c.Name, Env: env, Action: Delete, Phase: PhasePrepare,
				Reason: fmt.Sprintf("network %s is removed first", net)})
			step.Action, step.Reason = Create, fmt.Sprintf("recreated after network %s was removed", net)
		case o.SpecHash() != c.SpecHash():
			step.Action = Replace
			step.Reason = place.ChangedFields(o.Labels[drivers.LabelSpecFields], c.Labels[drivers.LabelSpecFields])
			if step.Reason == "" {
				step.Reason = "spec changed"
			}
		case !o.Running:
			step.Action, step.Reason = Update, "stopped: start it"
		default:
			continue
		}
		hp.add(step)
	}
	for _, name := range sortedKeys(have) {
		o := have[name]
		step := Step{Kind: KindContainer, Name: name, Env: o.Labels[drivers.LabelEnv], Action: Delete, Phase: PhaseDeleteContainers,
			Reason: hp.goneReason(o.Labels, "instance")}
		if attachedTo(o, going) != "" {
			step.Phase = PhasePrepare
		}
		if why := claims.blocked(o); why != "" {
			step.Phase = PhasePrepare
			step.Reason += "; removed first: " + why
		}
		hp.add(step)
	}
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
	for _, name := range sortedKeys(o.Networks) {
		if nets[name] {
			return name
		}
	}
	return ""
}

func (hp *hostPlanner) tunnels(replacedNets map[string]*drivers.NetworkSpec) {
	recreated := map[string]bool{} // bridges that go away with their network
	for _, n := range replacedNets {
		recreated[n.Bridge] = true
	}
	if hp.have.NoTunnels {
		for i := range hp.host.Tunnels {
			t := &hp.host.Tunnels[i]
			hp.add(Step{Kind: KindTunnel, Name: t.Name, Env: envOf(t.Owner), Action: Skip, Phase: PhaseTunnels,
				Reason: "tunnels on this host are not managed (no netlink access)"})
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
		step := Step{Kind: KindTunnel, Name: t.Name, Env: envOf(t.Owner), Phase: PhaseTunnels, Tunnel: t}
		if !ok {
			step.Action = Create
			step.Reason = fmt.Sprintf("absent: vni %d to %s", t.VNI, strings.Join(t.Peers, ", "))
			hp.add(step)
			continue
		}
		if why := immutableDiff(o, t); why != "" {
			step.Action, step.Reason = Replace, why
			hp.add(step)
			continue
		}
		why := tunnelDrift(o, t)
		if why == "" && recreated[t.Bridge] {
			why = "bridge " + t.Bridge + " is recreated with its network: enslave again"
		}
		if why != "" {
			step.Action, step.Reason = Update, why
			hp.add(step)
		}
	}
	for _, name := range sortedKeys(have) {
		o := have[name]
		hp.add(Step{Kind: KindTunnel, Name: name, Env: envOf(o.Owner), Action: Delete, Phase: PhaseDeleteTunnels,
			Reason: hp.goneReason(map[string]string{drivers.LabelEnv: envOf(o.Owner)}, "tunnel")})
	}
}

func envOf(owner string) string {
	_, id := place.SplitOwner(owner)
	env, _, _ := strings.Cut(id, "/")
	return env
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
