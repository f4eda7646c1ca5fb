// Package plan computes the steps that turn observed state into desired
// state. It does no I/O and is deterministic: the same inputs give the same
// steps in the same order, each with an action and a reason in words.
package plan

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/place"
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
	// PhaseImages brings images the host lacks, before the containers
	// that need them.
	PhaseImages
	PhaseContainers
	PhaseDeleteContainers
	PhaseDeleteTunnels
	PhaseDeleteNetworks
)

// Step is one change on one host: the object (Host, Kind, Name and, when
// known, Env and Group), the action, why as data (Code) and in words
// (Reason, for people only), and the desired spec it applies.
type Step struct {
	change.Ref
	Action change.Action `json:"action"`
	Code   change.Code   `json:"code"`
	Reason string        `json:"reason"`
	Phase  Phase         `json:"phase"`

	Container *drivers.ContainerSpec `json:"container,omitempty"`
	Network   *drivers.NetworkSpec   `json:"network,omitempty"`
	Volume    *drivers.VolumeSpec    `json:"volume,omitempty"`
	Tunnel    *drivers.TunnelSpec    `json:"tunnel,omitempty"`
	Image     *ImageSource           `json:"image,omitempty"`
}

// ImageSource is where an image a host lacks comes from: another host of
// the deployment that has it (From, with its ID, checked after the copy),
// or its registry (From empty).
type ImageSource struct {
	Ref  string `json:"ref"`
	ID   string `json:"id,omitempty"`
	From string `json:"from,omitempty"`
}

// String renders the step as one line: "site/host: create container x: reason".
func (s Step) String() string {
	return fmt.Sprintf("%s: %s %s %s: %s", s.Host, s.Action, s.Kind, s.Name, s.Reason)
}

// Plan is the ordered steps for every reachable host, the hosts that
// could not be observed (and so were not planned), and the renames a
// reviewer must not miss.
type Plan struct {
	Commit      string          `json:"commit,omitempty"`
	Steps       []Step          `json:"steps"`
	Unreachable []Unreachable   `json:"unreachable,omitempty"`
	Renames     []change.Rename `json:"renames,omitempty"`
	// Moves are instances placed away from their data (see place.Pins).
	Moves []place.Move `json:"moves,omitempty"`
}

// Unreachable is a host whose part of the plan was not computed.
type Unreachable struct {
	Host  string `json:"host"`
	Error string `json:"error"`
}

// Changes counts the steps that change something (not kept or skipped).
func (p Plan) Changes() int {
	n := 0
	for _, s := range p.Steps {
		if s.Action.Changes() {
			n++
		}
	}
	return n
}

// Blocked returns the steps that cannot be done safely (an object they
// need is not this deployment's): nothing was planned for them.
func (p Plan) Blocked() []Step {
	var out []Step
	for _, s := range p.Steps {
		if s.Code == change.Blocked {
			out = append(out, s)
		}
	}
	return out
}

// Empty reports whether the plan changes nothing on the reachable hosts.
func (p Plan) Empty() bool { return p.Changes() == 0 }

// Converged reports whether every host was observed, nothing is left to
// do and nothing is blocked.
func (p Plan) Converged() bool { return p.Empty() && len(p.Unreachable) == 0 && len(p.Blocked()) == 0 }

// Down reports whether the host could not be observed.
func (p Plan) Down(host string) bool {
	for _, u := range p.Unreachable {
		if u.Host == host {
			return true
		}
	}
	return false
}

// ForHost returns the steps of one host.
func (p Plan) ForHost(host string) []Step {
	var out []Step
	for _, s := range p.Steps {
		if s.Host == host {
			out = append(out, s)
		}
	}
	return out
}

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
	// Images are the IDs of the images the pass looked up on the host
	// (those of containers it would make, and those another host lacks):
	// reference → ID, "" when the host does not have it.
	Images map[string]string `json:"images,omitempty"`
	// NoTunnels: the host's tunnels are not observed (no netlink access);
	// tunnel steps are skipped rather than planned blind.
	NoTunnels bool `json:"noTunnels,omitempty"`
	// ForeignNetworks and ForeignVolumes are names on the host held by
	// someone else (not Rensei, or another deployment): nothing of this
	// deployment may take, join or mount them.
	ForeignNetworks map[string]drivers.Owner `json:"foreignNetworks,omitempty"`
	ForeignVolumes  map[string]drivers.Owner `json:"foreignVolumes,omitempty"`
}

// Compute returns the steps that take have to want. It does no I/O and is
// deterministic. Hosts absent from want (not in the topology) are ignored;
// hosts absent from have are planned as empty.
func Compute(want *place.Desired, have Observed) Plan {
	p := Plan{Commit: want.Commit, Moves: want.Moves}
	where := &instances{want: want}
	holders := imageHolders(have)
	p.Steps = make([]Step, 0, atLeast(want, have))
	for i := range want.Hosts {
		h := &want.Hosts[i]
		obs := have[h.Key]
		if obs.Err != nil {
			p.Unreachable = append(p.Unreachable, Unreachable{Host: h.Key, Error: obs.Err.Error()})
			continue
		}
		// Every host appends to the same list: no copy per host.
		hp := hostPlanner{want: want, where: where, host: h, have: obs, blocked: map[string]string{}, holders: holders,
			out: p.Steps, start: len(p.Steps)}
		hp.steps()
		p.Steps = hp.out
	}
	sortSteps(p.Steps)
	if mayRename(want, have, p.Steps) {
		p.Renames = renames(want, have)
	}
	return p
}

// sortSteps orders steps by host, phase and name, keeping the order in
// which they were planned among equals.
func sortSteps(steps []Step) {
	slices.SortStableFunc(steps, func(a, b Step) int {
		if c := strings.Compare(a.Host, b.Host); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Phase, b.Phase); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// mayRename reports whether the plan can hold a rename. One needs a live
// instance of a group or an environment that goes away: the plan deletes
// it, unless it is on a host the plan does not cover. Most plans delete
// no container, and indexing both sides for renames was a third of a
// plan's time on the campus.
func mayRename(want *place.Desired, have Observed, steps []Step) bool {
	for key, st := range have {
		if st.Err == nil && len(st.Containers) > 0 && want.Host(key) == nil {
			return true
		}
	}
	for _, s := range steps {
		if s.Kind == change.KindContainer && s.Action == change.Delete {
			return true
		}
	}
	return false
}

type hostPlanner struct {
	want  *place.Desired
	where *instances
	host  *place.Host
	have  HostState
	// out[start:] are the host's steps (out holds other hosts' before).
	out   []Step
	start int
	// blocked holds the networks and volumes (by Docker name) that are
	// someone else's, and why.
	blocked map[string]string
	// holders are the hosts that have each image looked up.
	holders map[string][]ImageSource
}

// add records a step on the host being planned.
func (hp *hostPlanner) add(kind change.Kind, name, env string, a change.Action, code change.Code, phase Phase, reason string) *Step {
	if len(hp.out) == cap(hp.out) {
		// Twice the size: append grows large lists by a quarter, and a
		// plan of 30,000 containers would allocate several times its size.
		hp.out = slices.Grow(hp.out, max(len(hp.out), 64))
	}
	hp.out = append(hp.out, Step{Ref: change.Ref{Host: hp.host.Key, Kind: kind, Name: name, Env: env},
		Action: a, Code: code, Phase: phase, Reason: reason})
	return &hp.out[len(hp.out)-1]
}

func (hp *hostPlanner) steps() {
	replaced, cleared := hp.networks()
	hp.volumes()
	hp.tunnels(replaced)
	hp.containers(replaced, cleared)
	hp.images()
}

// atLeast estimates how many steps a plan has from how many objects each
// host has and should have (at least that many are made or removed), so
// a plan that makes everything is allocated once and a plan that makes
// nothing allocates nothing.
func atLeast(want *place.Desired, have Observed) int {
	diff := func(a, b int) int { return max(a-b, b-a) }
	n := 0
	for _, h := range want.Hosts {
		o := have[h.Key]
		n += diff(len(h.Containers), len(o.Containers)) + diff(len(h.Volumes), len(o.Volumes)) +
			diff(len(h.Networks), len(o.Networks)) + diff(len(h.Tunnels), len(o.Tunnels))
	}
	if n == 0 {
		return 0
	}
	return n + n/16 + 16*len(want.Hosts) // images, replacements and what counting misses
}

// instances indexes the desired containers once per plan, so explaining a
// removal does not scan every host; only when a removal is explained (a
// plan that removes nothing, most of them, needs no index).
type instances struct {
	want  *place.Desired
	built bool
	group map[string]bool   // "env/group" → desired somewhere
	host  map[string]string // "env/group/instance" → host key
}

// index returns the index, made on first use.
func (idx *instances) index() *instances {
	if idx.built {
		return idx
	}
	want := idx.want
	n := 0
	for _, h := range want.Hosts {
		n += len(h.Containers)
	}
	idx.built, idx.group, idx.host = true, map[string]bool{}, make(map[string]string, n)
	for _, h := range want.Hosts {
		for _, c := range h.Containers {
			eg := c.Labels[drivers.LabelEnv] + "/" + c.Labels[drivers.LabelGroup]
			idx.group[eg] = true
			idx.host[eg+"/"+c.Labels[drivers.LabelInstance]] = h.Key
		}
	}
	return idx
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
