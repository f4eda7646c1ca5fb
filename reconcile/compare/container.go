package compare

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/place"
)

// hostChange is a change bound for one host's list.
type hostChange struct {
	Change
	host string
}

// compareContainers pairs instances by identity (env/group/instance). An
// instance placed on another host in head is deleted on the old host and
// created on the new one, each saying where it went or came from.
func compareContainers(b, h *side) []hostChange {
	var out []hostChange
	for _, key := range unionKeys(b.instances, h.instances) {
		old, inBase := b.instances[key]
		cur, inHead := h.instances[key]
		switch {
		case inBase && inHead && old.host == cur.host:
			if fields := containerFields(old.spec, cur.spec, false); len(fields) > 0 {
				out = append(out, hostChange{host: cur.host, Change: cur.change(change.Replace, change.SpecChanged, fields, "")})
			}
		case inBase && inHead:
			gone := old.change(change.Delete, change.Moved, nil, cur.host)
			came := cur.change(change.Create, change.Moved, containerFields(old.spec, cur.spec, true), old.host)
			out = append(out, hostChange{host: old.host, Change: gone}, hostChange{host: cur.host, Change: came})
		case inHead:
			out = append(out, hostChange{host: cur.host, Change: cur.change(change.Create, change.Absent, nil, "")})
		default:
			out = append(out, hostChange{host: old.host, Change: old.change(change.Delete, change.Removed, nil, "")})
		}
	}
	return out
}

// change describes what happens to the instance; peer is the other host
// of a move.
func (i instance) change(a change.Action, code change.Code, fields []change.Field, peer string) Change {
	c := Change{Ref: change.Ref{Kind: change.KindContainer, Name: i.spec.Name, Env: i.env, Group: i.group},
		Action: a, Code: code, Fields: fields, Peer: peer}
	switch {
	case code == change.Moved && a == change.Delete:
		c.Note = "moved to " + peer
	case code == change.Moved:
		c.Note = "moved from " + peer
	}
	return c
}

// containerFields names what differs between two specs of one instance,
// in the order of place's io.rensei.spec-fields label. moved drops the
// RENSEI_SITE and RENSEI_HOST variables, which a move changes by itself.
func containerFields(a, b drivers.ContainerSpec, moved bool) []change.Field {
	var out []change.Field
	if a.Image != b.Image {
		out = append(out, change.Field{Name: "image", From: a.Image, To: b.Image})
	}
	if !slices.Equal(a.Command, b.Command) {
		out = append(out, change.Field{Name: "command", From: shortList(a.Command), To: shortList(b.Command)})
	}
	if d := envDetail(a.Env, b.Env, moved); d != "" {
		out = append(out, change.Field{Name: "env", Detail: d})
	}
	if a.NanoCPUs != b.NanoCPUs || a.Memory != b.Memory {
		var parts []string
		if a.NanoCPUs != b.NanoCPUs {
			parts = append(parts, "cpus "+cpus(a.NanoCPUs)+" → "+cpus(b.NanoCPUs))
		}
		if a.Memory != b.Memory {
			parts = append(parts, "memory "+bytes(a.Memory)+" → "+bytes(b.Memory))
		}
		out = append(out, change.Field{Name: "resources", Detail: strings.Join(parts, ", ")})
	}
	if a.Restart != b.Restart {
		out = append(out, change.Field{Name: "restart", From: a.Restart, To: b.Restart})
	}
	if d := attachDetail(a.Networks, b.Networks); d != "" {
		out = append(out, change.Field{Name: "networks", Detail: d})
	}
	if d := mountDetail(a.Mounts, b.Mounts); d != "" {
		out = append(out, change.Field{Name: "volumes", Detail: d})
	}
	if d := fileDetail(a.Files, b.Files); d != "" {
		out = append(out, change.Field{Name: "files", Detail: d})
	}
	if !slices.Equal(a.Ports, b.Ports) {
		out = append(out, change.Field{Name: "ports", From: ports(a.Ports), To: ports(b.Ports)})
	}
	if a.Hostname != b.Hostname {
		out = append(out, change.Field{Name: "hostname", From: a.Hostname, To: b.Hostname})
	}
	// The label digests cover fields this function may not know yet: when
	// the spec hash moved but nothing above did, say what the labels say.
	if len(out) == 0 && !moved && a.SpecHash() != b.SpecHash() {
		detail := place.ChangedFields(a.Labels[drivers.LabelSpecFields], b.Labels[drivers.LabelSpecFields])
		if detail == "" {
			detail = "spec hash " + a.SpecHash() + " → " + b.SpecHash()
		}
		out = append(out, change.Field{Name: "spec", Detail: detail})
	}
	return out
}

const maxValue = 60

// shortList renders a command as words, shortened to maxValue bytes.
func shortList(s []string) string {
	return clip(strings.Join(s, " "))
}

func clip(s string) string {
	if len(s) <= maxValue {
		return s
	}
	return s[:maxValue-1] + "…"
}

func cpus(nano int64) string {
	if nano == 0 {
		return "unlimited"
	}
	return strconv.FormatFloat(float64(nano)/1e9, 'f', -1, 64)
}

func bytes(n int64) string {
	switch {
	case n == 0:
		return "unlimited"
	case n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "Gi"
	case n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "Mi"
	case n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "Ki"
	}
	return strconv.FormatInt(n, 10)
}

func ports(ps []drivers.PortBinding) string {
	var out []string
	for _, p := range ps {
		s := strconv.Itoa(p.Container) + "/" + p.Protocol
		if p.Host != 0 {
			s = strconv.Itoa(p.Host) + "→" + s
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// keyed describes a change of a keyed list: "+a, -b, ~c (why)".
type keyed struct{ added, removed, changed []string }

func (k keyed) String() string {
	var parts []string
	for _, s := range k.added {
		parts = append(parts, "+"+s)
	}
	for _, s := range k.removed {
		parts = append(parts, "-"+s)
	}
	for _, s := range k.changed {
		parts = append(parts, "~"+s)
	}
	return strings.Join(parts, ", ")
}

// compareKeyed walks two maps by sorted key; changed reports how a value
// present in both differs ("" for not at all).
func compareKeyed[V any](a, b map[string]V, changed func(a, b V) string) keyed {
	var k keyed
	for _, key := range unionKeys(a, b) {
		av, inA := a[key]
		bv, inB := b[key]
		switch {
		case inA && inB:
			if why := changed(av, bv); why != "" {
				if why == "changed" {
					k.changed = append(k.changed, key)
				} else {
					k.changed = append(k.changed, key+" ("+why+")")
				}
			}
		case inB:
			k.added = append(k.added, key)
		default:
			k.removed = append(k.removed, key)
		}
	}
	return k
}

// envDetail names the variables added, removed and changed; values are
// not shown (they may be credentials).
func envDetail(a, b []string, moved bool) string {
	parse := func(env []string) map[string]string {
		m := map[string]string{}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			if moved && (k == "RENSEI_SITE" || k == "RENSEI_HOST") {
				continue
			}
			m[k] = v
		}
		return m
	}
	return compareKeyed(parse(a), parse(b), func(x, y string) string {
		if x != y {
			return "changed"
		}
		return ""
	}).String()
}

func attachDetail(a, b []drivers.NetworkAttach) string {
	index := func(as []drivers.NetworkAttach) map[string]drivers.NetworkAttach {
		m := map[string]drivers.NetworkAttach{}
		for _, x := range as {
			m[x.Network] = x
		}
		return m
	}
	return compareKeyed(index(a), index(b), func(x, y drivers.NetworkAttach) string {
		var why []string
		if x.IPv4 != y.IPv4 {
			why = append(why, "address "+orDynamic(x.IPv4)+" → "+orDynamic(y.IPv4))
		}
		if !slices.Equal(x.Aliases, y.Aliases) {
			why = append(why, "aliases")
		}
		return strings.Join(why, ", ")
	}).String()
}

func orDynamic(s string) string {
	if s == "" {
		return "dynamic"
	}
	return s
}

func mountDetail(a, b []drivers.Mount) string {
	index := func(ms []drivers.Mount) map[string]drivers.Mount {
		m := map[string]drivers.Mount{}
		for _, x := range ms {
			m[x.Target] = x
		}
		return m
	}
	return compareKeyed(index(a), index(b), func(x, y drivers.Mount) string {
		var why []string
		if x.Volume != y.Volume {
			why = append(why, "volume "+x.Volume+" → "+y.Volume)
		}
		if x.ReadOnly != y.ReadOnly {
			why = append(why, fmt.Sprintf("read-only %v → %v", x.ReadOnly, y.ReadOnly))
		}
		return strings.Join(why, ", ")
	}).String()
}

func fileDetail(a, b []drivers.File) string {
	index := func(fs []drivers.File) map[string]drivers.File {
		m := map[string]drivers.File{}
		for _, x := range fs {
			m[x.Path] = x
		}
		return m
	}
	return compareKeyed(index(a), index(b), func(x, y drivers.File) string {
		var why []string
		if x.Content != y.Content {
			why = append(why, "content")
		}
		if x.Mode != y.Mode {
			why = append(why, fmt.Sprintf("mode %#o → %#o", x.Mode, y.Mode))
		}
		if len(why) == 1 && why[0] == "content" {
			return "changed"
		}
		return strings.Join(why, ", ")
	}).String()
}

// groupKey is "env/group".
func groupKey(env, group string) string { return env + "/" + group }

// compareGroups summarises the container changes per group: created,
// deleted, or changed with the fields common to its changed instances.
func compareGroups(b, h *side, hosts []HostDiff) []Change {
	type members struct {
		base, head map[string]instance // instance name → instance
	}
	groups := map[string]*members{}
	add := func(s *side, head bool) {
		for _, in := range s.instances {
			k := groupKey(in.env, in.group)
			m := groups[k]
			if m == nil {
				m = &members{base: map[string]instance{}, head: map[string]instance{}}
				groups[k] = m
			}
			if head {
				m.head[in.name] = in
			} else {
				m.base[in.name] = in
			}
		}
	}
	add(b, false)
	add(h, true)
	changed := map[string][]Change{} // group key → its instances' changes of action Change
	moved, replaced := map[string]int{}, map[string]int{}
	for _, hd := range hosts {
		for _, c := range hd.Changes {
			if c.Kind != change.KindContainer {
				continue
			}
			k := groupKey(c.Env, c.Group)
			switch {
			case c.Action == change.Replace:
				changed[k] = append(changed[k], c)
				replaced[k]++
			case c.Action == change.Create && c.Code == change.Moved:
				moved[k]++
				if len(c.Fields) > 0 {
					changed[k] = append(changed[k], c)
				}
			}
		}
	}
	out := []Change{}
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		m := groups[k]
		env, group, _ := strings.Cut(k, "/")
		c := Change{Ref: change.Ref{Kind: change.KindGroup, Name: group, Env: env}}
		switch {
		case len(m.base) == 0:
			c.Action = change.Create
			c.Note = fmt.Sprintf("image %s, %s on %s", anyInstance(m.head).spec.Image, change.Count(len(m.head), "instance"), hostList(m.head))
		case len(m.head) == 0:
			c.Action = change.Delete
			c.Note = change.Count(len(m.base), "instance") + " deleted"
		default:
			c.Fields = commonFields(changed[k], len(m.head))
			added, removed := memberDelta(m.base, m.head)
			if len(added)+len(removed) > 0 {
				c.Fields = append([]change.Field{{Name: "instances", From: strconv.Itoa(len(m.base)), To: strconv.Itoa(len(m.head)),
					Detail: memberDetail(len(m.base), len(m.head), added, removed)}}, c.Fields...)
			}
			var notes []string
			if n := replaced[k]; n > 0 {
				notes = append(notes, change.Count(n, "instance")+" replaced")
			}
			if n := moved[k]; n > 0 {
				notes = append(notes, change.Count(n, "instance")+" moved to another host")
			}
			c.Note = strings.Join(notes, ", ")
			if len(c.Fields) == 0 && c.Note == "" {
				continue
			}
			c.Action = change.Update
		}
		out = append(out, c)
	}
	return out
}

func anyInstance(m map[string]instance) instance {
	return m[slices.Min(slices.Collect(maps.Keys(m)))]
}

// hostList names the hosts of a group's instances, or counts them when
// there are many.
func hostList(m map[string]instance) string {
	seen := map[string]bool{}
	for _, in := range m {
		seen[in.host] = true
	}
	hosts := slices.Sorted(maps.Keys(seen))
	if len(hosts) > 3 {
		return strconv.Itoa(len(hosts)) + " hosts"
	}
	return strings.Join(hosts, ", ")
}

func memberDelta(base, head map[string]instance) (added, removed []string) {
	for n := range head {
		if _, ok := base[n]; !ok {
			added = append(added, n)
		}
	}
	for n := range base {
		if _, ok := head[n]; !ok {
			removed = append(removed, n)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}

// memberDetail: "30 → 31: +ann, -bob", naming at most a few members.
func memberDetail(from, to int, added, removed []string) string {
	const show = 5
	names := func(sign string, ns []string) []string {
		var out []string
		for i, n := range ns {
			if i == show {
				out = append(out, fmt.Sprintf("%s%d more", sign, len(ns)-show))
				break
			}
			out = append(out, sign+n)
		}
		return out
	}
	parts := append(names("+", added), names("-", removed)...)
	return fmt.Sprintf("%d → %d: %s", from, to, strings.Join(parts, ", "))
}

// commonFields summarises the fields changed over a group's instances:
// a field whose old and new values are the same everywhere keeps them;
// one that differs per instance is named with how many changed.
func commonFields(cs []Change, total int) []change.Field {
	if len(cs) == 0 {
		return nil
	}
	type agg struct {
		first change.Field
		same  bool
		n     int
	}
	var order []string
	byName := map[string]*agg{}
	for _, c := range cs {
		for _, f := range c.Fields {
			a := byName[f.Name]
			if a == nil {
				a = &agg{first: f, same: true}
				byName[f.Name] = a
				order = append(order, f.Name)
			} else if a.first != f {
				a.same = false
			}
			a.n++
		}
	}
	var out []change.Field
	for _, name := range order {
		a := byName[name]
		f := a.first
		if !a.same {
			f = change.Field{Name: name}
		}
		if a.n < total {
			what := f.Detail
			if f.From != "" || f.To != "" {
				what = f.Values()
				f.From, f.To = "", ""
			}
			f.Detail = fmt.Sprintf("%d of %d instances", a.n, total)
			if what != "" {
				f.Detail = what + " (" + f.Detail + ")"
			}
		}
		out = append(out, f)
	}
	return out
}
