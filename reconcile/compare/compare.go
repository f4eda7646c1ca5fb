// Package compare compares the desired state of two revisions of a config
// repository: which environments, groups, hosts, containers (instances),
// networks, tunnels and volumes appear, change or go away on each host,
// naming the fields that changed, and which removals and creations look
// like a rename. It is pure and deterministic and touches no host: it
// answers "what would this pull request do", where package plan answers
// "what must apply do to the live hosts". Both speak package change's
// vocabulary: a container whose spec changes is a Replace in both.
package compare

import (
	"slices"
	"sort"
	"strings"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/place"
)

// Change is one object that appears, changes or goes away.
type Change struct {
	change.Ref
	Action change.Action  `json:"action"`
	Code   change.Code    `json:"code,omitempty"`
	Fields []change.Field `json:"fields,omitempty"`
	// Peer is the other host of an instance that moves (Code Moved): where
	// it goes, on the old host's change; where it comes from, on the new's.
	Peer string `json:"peer,omitempty"`
	// Note says more in words, for people: where an instance moved, what a
	// new environment holds, that a volume is kept.
	Note string `json:"note,omitempty"`
}

// Describe is the change's fields and note as one phrase.
func (c Change) Describe() string {
	parts := make([]string, 0, len(c.Fields)+1)
	for _, f := range c.Fields {
		parts = append(parts, f.String())
	}
	if c.Note != "" {
		parts = append(parts, c.Note)
	}
	return strings.Join(parts, "; ")
}

// HostDiff is everything that changes on one host.
type HostDiff struct {
	Host string `json:"host"` // "site/host"
	Site string `json:"site"`
	// Action is create or delete when the host itself appears in or leaves
	// the topology, update when its definition changed, empty otherwise.
	Action  change.Action  `json:"action,omitempty"`
	Fields  []change.Field `json:"fields,omitempty"`
	Changes []Change       `json:"changes"`
}

// Diff is what changes from base to head. Every slice is sorted.
type Diff struct {
	Base string `json:"base,omitempty"` // commit of the base revision
	Head string `json:"head,omitempty"` // commit of the head revision
	// Renames are removals paired with creations of the same content.
	Renames      []change.Rename `json:"renames,omitempty"`
	Environments []Change        `json:"environments"`
	Groups       []Change        `json:"groups"`
	Hosts        []HostDiff      `json:"hosts"`
}

// Empty reports whether base and head want the same thing everywhere.
func (d Diff) Empty() bool {
	if len(d.Environments) > 0 || len(d.Groups) > 0 {
		return false
	}
	for _, h := range d.Hosts {
		if h.Action != "" || len(h.Changes) > 0 {
			return false
		}
	}
	return true
}

// Tally counts the changes of one kind by action.
type Tally struct {
	Create  int `json:"create"`
	Replace int `json:"replace,omitempty"`
	Update  int `json:"update,omitempty"`
	Delete  int `json:"delete"`
	Keep    int `json:"keep,omitempty"`
}

func (t *Tally) add(a change.Action) {
	switch a {
	case change.Create:
		t.Create++
	case change.Replace:
		t.Replace++
	case change.Update:
		t.Update++
	case change.Delete:
		t.Delete++
	case change.Keep:
		t.Keep++
	}
}

// Zero reports whether nothing was counted.
func (t Tally) Zero() bool { return t == Tally{} }

// Counts are the tallies of a diff per kind.
type Counts struct {
	Environments Tally `json:"environments"`
	Groups       Tally `json:"groups"`
	Hosts        Tally `json:"hosts"`
	Containers   Tally `json:"containers"`
	Networks     Tally `json:"networks"`
	Tunnels      Tally `json:"tunnels"`
	Volumes      Tally `json:"volumes"`
}

// Counts tallies the diff. A container moved from one host to another
// counts once as a deletion and once as a creation, as apply sees it.
func (d Diff) Counts() Counts {
	var c Counts
	for _, e := range d.Environments {
		c.Environments.add(e.Action)
	}
	for _, g := range d.Groups {
		c.Groups.add(g.Action)
	}
	for _, h := range d.Hosts {
		c.Hosts.add(h.Action)
		for _, ch := range h.Changes {
			c.tally(ch.Kind).add(ch.Action)
		}
	}
	return c
}

func (c *Counts) tally(k change.Kind) *Tally {
	switch k {
	case change.KindNetwork:
		return &c.Networks
	case change.KindTunnel:
		return &c.Tunnels
	case change.KindVolume:
		return &c.Volumes
	}
	return &c.Containers
}

// HostCounts tallies one host's changes.
func (h HostDiff) Counts() Counts {
	return Diff{Hosts: []HostDiff{{Changes: h.Changes}}}.Counts()
}

// ForEnv keeps only what concerns the environment name: its own entry,
// its groups, the objects it owns on every host and the renames from or
// to it. Host-level changes (a host added) are dropped.
func (d Diff) ForEnv(name string) Diff {
	out := Diff{Base: d.Base, Head: d.Head, Environments: []Change{}, Groups: []Change{}, Hosts: []HostDiff{}}
	for _, r := range d.Renames {
		if r.Env == name || (r.Kind == change.KindEnvironment && (r.From == name || r.To == name)) {
			out.Renames = append(out.Renames, r)
		}
	}
	for _, e := range d.Environments {
		if e.Name == name {
			out.Environments = append(out.Environments, e)
		}
	}
	for _, g := range d.Groups {
		if g.Env == name {
			out.Groups = append(out.Groups, g)
		}
	}
	for _, h := range d.Hosts {
		var keep []Change
		for _, c := range h.Changes {
			if c.Env == name {
				keep = append(keep, c)
			}
		}
		if len(keep) > 0 {
			out.Hosts = append(out.Hosts, HostDiff{Host: h.Host, Site: h.Site, Changes: keep})
		}
	}
	return out
}

// EnvNames lists the environments the diff touches, sorted.
func (d Diff) EnvNames() []string {
	seen := map[string]bool{}
	for _, e := range d.Environments {
		seen[e.Name] = true
	}
	for _, g := range d.Groups {
		seen[g.Env] = true
	}
	for _, h := range d.Hosts {
		for _, c := range h.Changes {
			if c.Env != "" {
				seen[c.Env] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Compare returns what changes from base to head. Either may be nil,
// meaning a revision that wants nothing (the parent of a first commit).
// Both should be placed with the same time, or environments whose window
// opens or closes in between show as changed.
func Compare(base, head *place.Desired) Diff {
	if base == nil {
		base = &place.Desired{}
	}
	if head == nil {
		head = &place.Desired{}
	}
	b, h := index(base), index(head)
	d := Diff{Base: base.Commit, Head: head.Commit, Environments: []Change{}, Groups: []Change{}, Hosts: []HostDiff{}}

	perHost := map[string][]Change{}
	for _, c := range compareContainers(b, h) {
		perHost[c.host] = append(perHost[c.host], c.Change)
	}
	for key, cs := range compareNetworks(b, h) {
		perHost[key] = append(perHost[key], cs...)
	}
	for key, cs := range compareTunnels(b, h) {
		perHost[key] = append(perHost[key], cs...)
	}
	for key, cs := range compareVolumes(b, h) {
		perHost[key] = append(perHost[key], cs...)
	}
	for _, key := range unionKeys(b.hosts, h.hosts) {
		hd := HostDiff{Host: key, Changes: perHost[key]}
		bh, inBase := b.hosts[key]
		hh, inHead := h.hosts[key]
		switch {
		case inBase && inHead:
			hd.Site = hh.Site
			hd.Fields = hostFields(bh.Spec, hh.Spec)
			if len(hd.Fields) > 0 {
				hd.Action = change.Update
			}
		case inHead:
			hd.Site, hd.Action = hh.Site, change.Create
		default:
			hd.Site, hd.Action = bh.Site, change.Delete
		}
		if hd.Action == "" && len(hd.Changes) == 0 {
			continue
		}
		sortChanges(hd.Changes)
		if hd.Changes == nil {
			hd.Changes = []Change{}
		}
		d.Hosts = append(d.Hosts, hd)
	}
	d.Groups = compareGroups(b, h, d.Hosts)
	d.Environments = compareEnvs(base, head, b, h, d)
	d.Renames = renames(base, head)
	return d
}

// kindOrder lists a host's changes containers first: they are what
// reviewers look for.
var kindOrder = map[change.Kind]int{change.KindContainer: 0, change.KindNetwork: 1, change.KindTunnel: 2, change.KindVolume: 3}

func sortChanges(cs []Change) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if kindOrder[a.Kind] != kindOrder[b.Kind] {
			return kindOrder[a.Kind] < kindOrder[b.Kind]
		}
		return a.Name < b.Name
	})
}

// instance is one container of the desired state and where it runs.
type instance struct {
	env, group, name string
	host             string
	spec             drivers.ContainerSpec
}

func (i instance) key() string { return i.env + "/" + i.group + "/" + i.name }

// side is one revision's desired state, indexed.
type side struct {
	hosts     map[string]*place.Host
	instances map[string]instance                       // env/group/instance
	networks  map[string]map[string]drivers.NetworkSpec // host → name
	tunnels   map[string]map[string]drivers.TunnelSpec  // host → owner
	volumes   map[string]map[string]drivers.VolumeSpec  // host → name
	envs      map[string]place.EnvStatus
}

func index(d *place.Desired) *side {
	s := &side{hosts: map[string]*place.Host{}, instances: map[string]instance{},
		networks: map[string]map[string]drivers.NetworkSpec{}, tunnels: map[string]map[string]drivers.TunnelSpec{},
		volumes: map[string]map[string]drivers.VolumeSpec{}, envs: map[string]place.EnvStatus{}}
	for _, e := range d.Environments {
		s.envs[e.Name] = e
	}
	for i := range d.Hosts {
		h := &d.Hosts[i]
		s.hosts[h.Key] = h
		for _, c := range h.Containers {
			in := instance{env: c.Labels[drivers.LabelEnv], group: c.Labels[drivers.LabelGroup], name: c.Labels[drivers.LabelInstance], host: h.Key, spec: c}
			if in.env == "" || in.group == "" || in.name == "" {
				in.name = c.Name // unlabelled: identity is the container name alone
			}
			s.instances[in.key()] = in
		}
		s.networks[h.Key] = map[string]drivers.NetworkSpec{}
		for _, n := range h.Networks {
			s.networks[h.Key][n.Name] = n
		}
		s.tunnels[h.Key] = map[string]drivers.TunnelSpec{}
		for _, t := range h.Tunnels {
			s.tunnels[h.Key][t.Owner] = t
		}
		s.volumes[h.Key] = map[string]drivers.VolumeSpec{}
		for _, v := range h.Volumes {
			s.volumes[h.Key][v.Name] = v
		}
	}
	return s
}

// unionKeys returns the keys of both maps, sorted.
func unionKeys[V any](a, b map[string]V) []string {
	seen := make(map[string]bool, len(a)+len(b))
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
