// Package place turns a validated topology into the desired state of every
// host: which containers, networks, volumes and tunnels each one carries.
// It is pure and deterministic (a function of the topology and the time
// given), so agents on different hosts agree without talking. Spread
// placement uses weighted rendezvous hashing: adding a member to a group
// moves no other instance while hosts have room.
package place

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/schema"
)

// Options are the inputs besides the topology.
type Options struct {
	// Commit is the config revision, recorded in the io.rensei.commit label.
	Commit string
	// Now decides which environments are inside their active window.
	Now time.Time
	// Scope is recorded in the io.rensei.scope label; empty is the default scope.
	Scope string
	// Pins keep instances with data where their data is (see Pins).
	Pins Pins
}

// Pins keep what instances hold where it is, read from the hosts
// (engine.PinsOf), so they need no state besides the hosts:
//   - Hosts maps an instance ("env/group/instance") to the host
//     ("site/host") holding its volumes. A pinned instance is placed on
//     that host whatever the hashing says, as long as the host is still in
//     the topology, eligible for its group and has room: students keep
//     their home when a host is added or removed.
//   - Addresses maps an attachment ("container/docker-network") to the
//     static address it has (Attachment.Static): it keeps it, so adding a
//     member never moves another one's address.
type Pins struct {
	Hosts     map[string]string `json:"hosts,omitempty"`
	Addresses map[string]string `json:"addresses,omitempty"`
}

// AddressKey is the key of an attachment in Pins.Addresses.
func AddressKey(container, dockerNetwork string) string { return container + "/" + dockerNetwork }

// digest identifies a set of pins (in memory only: Desired.Pinned). Every
// key and value is written with its length, in key order, so different
// pins never write the same bytes.
func (p Pins) digest() string {
	if len(p.Hosts) == 0 && len(p.Addresses) == 0 {
		return ""
	}
	h := sha256.New()
	var b []byte
	for _, m := range []map[string]string{p.Hosts, p.Addresses} {
		b = binary.AppendUvarint(b[:0], uint64(len(m)))
		h.Write(b)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			b = binary.AppendUvarint(b[:0], uint64(len(k)))
			b = append(b, k...)
			b = binary.AppendUvarint(b, uint64(len(m[k])))
			b = append(b, m[k]...)
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// PinKey is the key of an instance in Pins.
func PinKey(env, group, instance string) string { return env + "/" + group + "/" + instance }

// Move is a pinned instance placed away from its data, and why: its new
// volumes start empty, and the old ones are kept where they are.
type Move struct {
	Env      string `json:"env"`
	Group    string `json:"group"`
	Instance string `json:"instance"`
	From     string `json:"from"`
	To       string `json:"to,omitempty"` // "" when the instance is not placed at all
	Why      string `json:"why"`
}

func (m Move) String() string {
	to := "nowhere"
	if m.To != "" {
		to = m.To
	}
	return fmt.Sprintf("instance %s of environment %s, group %s: its data is on %s, which %s: it is placed on %s with new, empty volumes (the old ones are kept)",
		m.Instance, m.Env, m.Group, m.From, m.Why, to)
}

// Desired is the desired state of every host of the topology.
type Desired struct {
	Commit       string      `json:"commit,omitempty"`
	Hosts        []Host      `json:"hosts"`
	Environments []EnvStatus `json:"environments"`
	// Moves are pinned instances that could not stay with their data.
	Moves []Move `json:"moves,omitempty"`
	// Access lists, per environment with an access section, how each
	// member reaches its instance (placement references filled in; secret
	// references left for whoever reads them).
	Access []AccessRow `json:"access,omitempty"`

	// Pinned is the digest of the pins it was placed with ("" for none).
	Pinned string `json:"-"`
}

// Agrees reports whether placing again with pins would change nothing:
// d was placed with these very pins, or every instance d places that has
// a pin is on its pinned host (or was placed away from it with these pins:
// a Move from that host) and every static address it has is the pinned
// one. Pins of instances d does not place do not matter.
func (d *Desired) Agrees(pins Pins) bool {
	if d.Pinned == pins.digest() {
		return true
	}
	moved := map[string]string{}
	for _, m := range d.Moves {
		moved[PinKey(m.Env, m.Group, m.Instance)] = m.From
	}
	for _, h := range d.Hosts {
		for _, c := range h.Containers {
			for _, n := range c.Networks {
				if n.IPv4 == "" {
					continue // a dynamic address: nothing to keep
				}
				if want, ok := pins.Addresses[AddressKey(c.Name, n.Network)]; ok && n.IPv4 != want {
					return false
				}
			}
			if len(c.Mounts) == 0 {
				continue
			}
			l := c.Labels
			k := PinKey(l[drivers.LabelEnv], l[drivers.LabelGroup], l[drivers.LabelInstance])
			if want, ok := pins.Hosts[k]; ok && want != h.Key && moved[k] != want {
				return false
			}
		}
	}
	return true
}

// Host is the desired state of one host. Every slice is sorted by name.
type Host struct {
	Key        string                  `json:"key"` // "site/host"
	Site       string                  `json:"site"`
	Spec       schema.Host             `json:"spec"`
	Containers []drivers.ContainerSpec `json:"containers"`
	Networks   []drivers.NetworkSpec   `json:"networks"`
	Volumes    []drivers.VolumeSpec    `json:"volumes"`
	Tunnels    []drivers.TunnelSpec    `json:"tunnels"`
}

// State says whether an environment is inside its active window.
type State string

const (
	Active    State = "active"
	Scheduled State = "scheduled" // before its window: nothing is created yet
	Ended     State = "ended"     // after its window: torn down, volumes kept
)

// EnvStatus is an environment's state at Options.Now.
type EnvStatus struct {
	Name  string    `json:"name"`
	State State     `json:"state"`
	From  time.Time `json:"from,omitzero"`
	Until time.Time `json:"until,omitzero"`
}

// Host returns the desired state of the host with that key, or nil.
func (d *Desired) Host(key string) *Host {
	i := sort.Search(len(d.Hosts), func(i int) bool { return d.Hosts[i].Key >= key })
	if i < len(d.Hosts) && d.Hosts[i].Key == key {
		return &d.Hosts[i]
	}
	return nil
}

// Env returns the status of the environment of that name.
func (d *Desired) Env(name string) (EnvStatus, bool) {
	for _, e := range d.Environments {
		if e.Name == name {
			return e, true
		}
	}
	return EnvStatus{}, false
}

// Inventory is what the desired state holds, for finding renames: every
// environment (active or not) and every container, network and volume.
func (d *Desired) Inventory() *change.Inventory {
	in := change.NewInventory()
	for _, e := range d.Environments {
		in.Declare(e.Name)
	}
	for _, h := range d.Hosts {
		for _, c := range h.Containers {
			in.AddContainer(c.Labels)
		}
		for _, n := range h.Networks {
			in.AddNetwork(n.Labels)
		}
		for _, v := range h.Volumes {
			in.AddVolume(v.Labels)
		}
	}
	return in
}

// Place computes the desired state of every host. It returns
// schema.Problems for what only placement can find: groups that exceed the
// capacity of their sites, overlapping subnets on a shared host, a host
// without an underlay address on a multi-host network, host ports used
// twice on one host, more hosts on a network than it has address blocks.
func Place(t *schema.Topology, opts Options) (*Desired, error) {
	p := newPlacer(t, opts)
	n := 0
	for _, e := range t.Environments {
		for _, g := range e.Groups {
			n += len(g.Members) + min(max(g.Replicas, 0), schema.MaxReplicas)
		}
	}
	p.placed = make([]placed, 0, n) // at most
	for i := range t.Environments {
		p.env(&t.Environments[i])
	}
	p.build()
	p.finish()
	if len(p.problems) > 0 {
		return nil, p.problems.Err()
	}
	return p.out, nil
}

// hostRef is a host during placement, with what is left of its capacity.
type hostRef struct {
	key  string
	site string
	spec schema.Host
	out  *Host

	cpus, memory float64 // remaining; +Inf when undeclared
	containers   int     // remaining; -1 when undeclared
	weight       float64
	ports        map[string]string // "tcp/8080" → container
	// envSite and envHost are RENSEI_SITE and RENSEI_HOST on the host.
	envSite, envHost string
	// placedContainers and placedVolumes count what build will make on
	// the host, to size its lists once.
	placedContainers, placedVolumes int
}

type placer struct {
	opts     Options
	topo     *schema.Topology
	out      *Desired
	hosts    map[string]*hostRef
	bySite   map[string][]*hostRef
	problems schema.Problems

	envSrc map[string]schema.Source
	// policy is the topology's policy with its defaults filled in.
	policy *schema.Policy
	// usage is what each tenant's active environments use, for quotas.
	usage map[string]*usage
	vnis  map[int]string // VNI → env/network, for allocation
	// explicitVNI are the VNIs written in the configuration.
	explicitVNI map[int]bool
	networks    []*netPlacement
	// placed are the instances in the order their hosts were chosen,
	// made into container specs once every host is chosen (build).
	placed []placed
	// instances are the placed instances, by "env/group/instance": made
	// only when indexed, for what reads it (static addresses, placement
	// references, access rows).
	instances map[string]instanceRef
	indexed   bool
	specs     map[string]*drivers.ContainerSpec // by name, once all are placed

	dig digester
	// containerLabels is how many labels a container spec ends up with.
	containerLabels int
	// scores and order are rank's, reused from one instance to the next.
	scores []scored
	order  []*hostRef
}

func newPlacer(t *schema.Topology, opts Options) *placer {
	policy := t.Policy
	if policy == nil {
		policy = schema.DefaultPolicy()
	}
	p := &placer{opts: opts, topo: t, out: &Desired{Commit: opts.Commit, Pinned: opts.Pins.digest()}, hosts: map[string]*hostRef{}, envSrc: map[string]schema.Source{},
		bySite: map[string][]*hostRef{}, vnis: map[int]string{}, explicitVNI: map[int]bool{}, policy: policy.WithDefaults(), usage: map[string]*usage{},
		containerLabels: 7}
	if opts.Commit != "" {
		p.containerLabels++
	}
	if opts.Scope != "" {
		p.containerLabels++
	}
	for _, s := range t.Sites {
		for _, h := range s.Hosts {
			key := s.Name + "/" + h.Name
			p.out.Hosts = append(p.out.Hosts, Host{Key: key, Site: s.Name, Spec: h})
		}
	}
	sort.Slice(p.out.Hosts, func(i, j int) bool { return p.out.Hosts[i].Key < p.out.Hosts[j].Key })
	for i := range p.out.Hosts {
		h := &p.out.Hosts[i]
		r := &hostRef{key: h.Key, site: h.Site, spec: h.Spec, out: h, cpus: math.Inf(1), memory: math.Inf(1), containers: -1, weight: 1, ports: map[string]string{},
			envSite: "RENSEI_SITE=" + h.Site, envHost: "RENSEI_HOST=" + h.Spec.Name}
		if c := h.Spec.Capacity; c != nil {
			if c.CPUs > 0 {
				r.cpus, r.weight = c.CPUs, c.CPUs
			}
			if c.Memory.N > 0 {
				r.memory = float64(c.Memory.N)
			}
			if c.Containers > 0 {
				r.containers = c.Containers
			}
		}
		p.hosts[h.Key] = r
		p.bySite[h.Site] = append(p.bySite[h.Site], r)
	}
	// Explicit VNIs are taken first so allocated ones never collide with them.
	for _, e := range t.Environments {
		for _, n := range e.Networks {
			if n.VNI != 0 {
				p.vnis[n.VNI] = e.Name + "/" + n.Name
				p.explicitVNI[n.VNI] = true
			}
		}
	}
	return p
}

func (p *placer) problem(src schema.Source, format string, args ...any) {
	p.problems = append(p.problems, schema.Problem{File: src.File, Line: src.Line, Msg: fmt.Sprintf(format, args...)})
}

func (p *placer) env(e *schema.Environment) {
	st := EnvStatus{Name: e.Name, State: Active}
	from, until := e.Active.Bounds()
	st.From, st.Until = from, until
	switch {
	case !from.IsZero() && p.opts.Now.Before(from):
		st.State = Scheduled
	case !until.IsZero() && !p.opts.Now.Before(until):
		st.State = Ended
	}
	p.out.Environments = append(p.out.Environments, st)
	p.envSrc[e.Name] = e.Source
	if st.State != Active {
		return
	}
	p.indexed = p.indexed || e.Access != nil
	nets := map[string]*netPlacement{}
	for i := range e.Networks {
		np := p.network(e, &e.Networks[i])
		nets[np.net.Name] = np
	}
	t := p.policy.TenantOf(e)
	for i := range e.Groups {
		p.group(e, t, &e.Groups[i], nets)
	}
}

// eligible returns the hosts a group may use, sorted by key: those of its
// placement's sites (or every site its tenant may use) with its host labels.
func (p *placer) eligible(t *schema.Tenant, g *schema.Group) []*hostRef {
	sites := g.Placement.Sites
	if len(sites) == 0 {
		for _, s := range p.topo.Sites {
			sites = append(sites, s.Name)
		}
	}
	var out []*hostRef
	for _, s := range sites {
		if t != nil && !t.AllowsSite(s) {
			continue // reported by validation when named
		}
		for _, h := range p.bySite[s] {
			if schema.HostMatches(h.spec, g.Placement.HostLabels) {
				out = append(out, h)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

type scored struct {
	h     *hostRef
	score float64
}

// rank orders hosts by weighted rendezvous score for the key whose
// hash64 state is seed (see keyHash), best first, appending to dst;
// scores is scratch space, returned for reuse.
func rank(dst []*hostRef, scores []scored, seed uint64, hosts []*hostRef) ([]*hostRef, []scored) {
	s := scores[:0]
	for _, h := range hosts {
		// u in (0,1); -w/ln(u) is the weighted rendezvous score.
		u := (float64(mix64(fnv1a(seed, h.key))>>11) + 0.5) / (1 << 53)
		s = append(s, scored{h, -h.weight / math.Log(u)})
	}
	slices.SortStableFunc(s, func(a, b scored) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.h.key, b.h.key)
	})
	for i := range s {
		dst = append(dst, s[i].h)
	}
	return dst, s
}

// keyHash is the hash64 state after parts joined by "/" and a NUL: the
// seed rank mixes each host's key into (hash64(key + "\x00" + host)).
func keyHash(parts ...string) uint64 {
	h := uint64(fnvOffset)
	for i, p := range parts {
		if i > 0 {
			h = fnv1a(h, "/")
		}
		h = fnv1a(h, p)
	}
	return fnv1a(h, "\x00")
}

// take reserves an instance's resources on h if they fit.
func (h *hostRef) take(cpus, memory float64) bool {
	if h.cpus < cpus || h.memory < memory || h.containers == 0 {
		return false
	}
	h.cpus -= cpus
	h.memory -= memory
	if h.containers > 0 {
		h.containers--
	}
	return true
}

func (p *placer) group(e *schema.Environment, t *schema.Tenant, g *schema.Group, nets map[string]*netPlacement) {
	hosts := p.eligible(t, g)
	if len(hosts) == 0 {
		return // reported by validation
	}
	gs := p.groupSpec(e, t, g, nets)
	p.indexed = p.indexed || gs.refers
	res := gs.res
	cpus, mem := res.CPUs, float64(res.Memory.N)
	for _, a := range g.Networks {
		if np := nets[a.Network]; np != nil {
			for _, h := range hosts {
				np.candidates[h.key] = true
			}
		}
	}
	var packOrder []*hostRef
	if g.Placement.Strategy == "pack" {
		packOrder, p.scores = rank(nil, p.scores, keyHash(e.Name, g.Name), hosts)
	}
	unplaced := 0
	// Instances with data first, on the host that holds it; then the rest.
	insts := g.Instances()
	pinsMatter := len(p.opts.Pins.Hosts) > 0 && len(g.Volumes) > 0
	if pinsMatter {
		var pinned, free []string
		for _, inst := range insts {
			if _, ok := p.opts.Pins.Hosts[PinKey(e.Name, g.Name, inst)]; ok {
				pinned = append(pinned, inst)
			} else {
				free = append(free, inst)
			}
		}
		insts = append(pinned, free...)
	}
	for _, inst := range insts {
		order := packOrder
		if order == nil {
			p.order, p.scores = rank(p.order[:0], p.scores, keyHash(e.Name, g.Name, inst), hosts)
			order = p.order
		}
		var chosen *hostRef
		var pin string
		isPinned := false
		if pinsMatter {
			pin, isPinned = p.opts.Pins.Hosts[PinKey(e.Name, g.Name, inst)]
		}
		why := ""
		if isPinned {
			switch h := p.hosts[pin]; {
			case h == nil:
				why = "is no longer in the configuration"
			case !slices.Contains(hosts, h):
				why = "is outside the group's placement"
			case !h.take(cpus, mem):
				why = "has no room left"
			default:
				chosen = h
			}
		}
		for _, h := range order {
			if chosen != nil {
				break
			}
			if h.take(cpus, mem) {
				chosen = h
			}
		}
		if why != "" {
			m := Move{Env: e.Name, Group: g.Name, Instance: inst, From: pin, Why: why}
			if chosen != nil {
				m.To = chosen.key
			}
			p.out.Moves = append(p.out.Moves, m)
		}
		if chosen == nil {
			unplaced++
			continue
		}
		p.placed = append(p.placed, placed{gs: gs, inst: inst, h: chosen})
		p.count(t, res, g)
	}
	if unplaced > 0 {
		var sites []string
		for _, h := range hosts {
			sites = append(sites, h.key)
		}
		p.problem(e.Source, "environment %q: group %q: %d of %d instances exceed the declared capacity of %s (each needs cpus %v, memory %s)",
			e.Name, g.Name, unplaced, len(g.Instances()), strings.Join(sites, ", "), cpus, orDash(res.Memory.Text))
	}
}

// placed is an instance and the host chosen for it.
type placed struct {
	gs   *groupSpec
	inst string
	h    *hostRef
}

// build makes the container (and volume) specs of every placed instance,
// in the order they were placed, with each host's lists sized once:
// nothing in choosing a host depends on the specs.
func (p *placer) build() {
	for _, pl := range p.placed {
		pl.h.placedContainers++
		pl.h.placedVolumes += len(pl.gs.g.Volumes)
	}
	for _, h := range p.hosts {
		h.out.Containers = make([]drivers.ContainerSpec, 0, h.placedContainers)
		h.out.Volumes = make([]drivers.VolumeSpec, 0, h.placedVolumes)
	}
	if p.indexed {
		p.instances = make(map[string]instanceRef, len(p.placed))
	}
	for _, pl := range p.placed {
		p.instance(pl.gs, pl.inst, pl.h)
	}
	p.placed = nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// hash64 is FNV-1a: stable across releases and platforms, which placement needs.
func hash64(s string) uint64 { return mix64(fnv1a(fnvOffset, s)) }

const fnvOffset = 14695981039346656037

// fnv1a continues an FNV-1a hash h with s.
func fnv1a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 finishes an FNV-1a hash: FNV's low bits mix poorly for short keys.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
