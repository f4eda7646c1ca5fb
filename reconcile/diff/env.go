package diff

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/place"
)

// compareEnvs lists environments created, removed, or changed: their
// state or window, or any of their objects.
func compareEnvs(base, head *place.Desired, b, h *side, d Diff) []Change {
	out := []Change{}
	for _, name := range unionKeys(b.envs, h.envs) {
		old, inBase := b.envs[name]
		cur, inHead := h.envs[name]
		c := Change{Kind: KindEnvironment, Name: name, Env: name}
		switch {
		case inBase && inHead:
			if old.State != cur.State {
				c.Fields = append(c.Fields, Field{Name: "state", From: string(old.State), To: string(cur.State)})
			}
			if !old.From.Equal(cur.From) {
				c.Fields = append(c.Fields, Field{Name: "active from", From: when(old.From), To: when(cur.From)})
			}
			if !old.Until.Equal(cur.Until) {
				c.Fields = append(c.Fields, Field{Name: "active until", From: when(old.Until), To: when(cur.Until)})
			}
			var notes []string
			switch {
			case old.State == place.Active && cur.State != place.Active:
				notes = append(notes, "torn down, volumes kept")
			case old.State != place.Active && cur.State == place.Active:
				notes = append(notes, "comes up now: "+h.objects(name).String())
			}
			if s := d.ForEnv(name).Counts().Short(); s != "" {
				notes = append(notes, s)
			}
			if len(c.Fields) == 0 && len(notes) == 0 {
				continue
			}
			c.Action, c.Note = Modify, strings.Join(notes, "; ")
		case inHead:
			c.Action = Create
			switch cur.State {
			case place.Active:
				c.Note = "active: " + h.objects(name).String()
			case place.Scheduled:
				c.Note = "scheduled from " + when(cur.From) + ": nothing is created before"
			case place.Ended:
				c.Note = "already ended (until " + when(cur.Until) + "): nothing is created"
			}
		default:
			c.Action = Delete
			o := b.objects(name)
			c.Note = fmt.Sprintf("%s and %s deleted", count(o.instances, "instance"), count(len(o.networks), "network"))
			if o.volumes > 0 {
				c.Note += "; " + count(o.volumes, "volume") + " kept with their data"
			}
		}
		out = append(out, c)
	}
	return out
}

// when renders a window bound: a date at midnight UTC, else RFC 3339.
func when(t time.Time) string {
	switch {
	case t.IsZero():
		return "open"
	case t.Equal(t.Truncate(24*time.Hour)) && t.Location() == time.UTC:
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}

// Rename is an environment or group removed while another, identical but
// for its name, is created. Identity is the name, so nothing carries over:
// every instance is deleted and created again, and volumes (named after
// the environment and group) stay behind under the old name.
type Rename struct {
	Kind Kind   `json:"kind"`          // environment or group
	Env  string `json:"env,omitempty"` // the environment of a renamed group
	From string `json:"from"`
	To   string `json:"to"`
	// Instances are deleted under the old name and created under the new.
	Instances int `json:"instances"`
	// Networks are recreated (renamed environments).
	Networks int `json:"networks,omitempty"`
	// Volumes of the old name are kept on their hosts, not moved.
	Volumes int `json:"volumes,omitempty"`
}

// String is the loud line reviewers must not miss.
func (r Rename) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rename? %s %s → %s", r.Kind, r.From, r.To)
	if r.Kind == KindGroup {
		fmt.Fprintf(&b, " in environment %s", r.Env)
	}
	fmt.Fprintf(&b, ": %s deleted and %d created", count(r.Instances, "instance"), r.Instances)
	if r.Networks > 0 {
		fmt.Fprintf(&b, ", %s recreated", count(r.Networks, "network"))
	}
	if r.Volumes > 0 {
		fmt.Fprintf(&b, "; %s of the old name kept, not moved (the new name starts empty)", count(r.Volumes, "volume"))
	} else {
		b.WriteString("; no volumes involved")
	}
	return b.String()
}

// renames pairs removed and created environments (and, inside an
// environment present on both sides, groups) whose content is the same
// but for the name.
func renames(b, h *side, d Diff) []Rename {
	var out []Rename
	var gone, born []string
	for _, e := range d.Environments {
		switch e.Action {
		case Delete:
			gone = append(gone, e.Name)
		case Create:
			born = append(born, e.Name)
		}
	}
	for _, p := range pair(gone, born, func(n string) string { return b.envSignature(n) }, func(n string) string { return h.envSignature(n) }) {
		o := b.objects(p[0])
		out = append(out, Rename{Kind: KindEnvironment, From: p[0], To: p[1], Instances: o.instances, Networks: len(o.networks), Volumes: o.volumes})
	}
	goneGroups, bornGroups := map[string][]string{}, map[string][]string{}
	for _, g := range d.Groups {
		if _, ok := b.envs[g.Env]; !ok {
			continue
		}
		if _, ok := h.envs[g.Env]; !ok {
			continue
		}
		switch g.Action {
		case Delete:
			goneGroups[g.Env] = append(goneGroups[g.Env], g.Name)
		case Create:
			bornGroups[g.Env] = append(bornGroups[g.Env], g.Name)
		}
	}
	for _, env := range unionKeys(goneGroups, bornGroups) {
		sig := func(s *side) func(string) string {
			return func(g string) string { return s.groupSignature(env, g) }
		}
		for _, p := range pair(goneGroups[env], bornGroups[env], sig(b), sig(h)) {
			r := Rename{Kind: KindGroup, Env: env, From: p[0], To: p[1]}
			for _, in := range b.instances {
				if in.env == env && in.group == p[0] {
					r.Instances++
				}
			}
			for _, vols := range b.volumes {
				for _, v := range vols {
					if v.Labels[drivers.LabelEnv] == env && v.Labels[drivers.LabelGroup] == p[0] {
						r.Volumes++
					}
				}
			}
			out = append(out, r)
		}
	}
	return out
}

// pair matches removed names to created ones with the same non-empty
// signature, each used once, in sorted order.
func pair(gone, born []string, oldSig, newSig func(string) string) [][2]string {
	var out [][2]string
	used := map[string]bool{}
	for _, g := range gone {
		s := oldSig(g)
		if s == "" {
			continue
		}
		for _, n := range born {
			if !used[n] && newSig(n) == s {
				used[n] = true
				out = append(out, [2]string{g, n})
				break
			}
		}
	}
	return out
}

// groupSignature is a group's content without its name and placement:
// per instance, everything the spec holds that does not embed the
// environment or group name. Empty when the group has no instances.
func (s *side) groupSignature(env, group string) string {
	var lines []string
	for _, in := range s.instances {
		if in.env != env || in.group != group {
			continue
		}
		c := in.spec
		var b strings.Builder
		fmt.Fprintf(&b, "%s|%s|%q|%s|%d|%d|%v", in.name, c.Image, c.Command, c.Restart, c.NanoCPUs, c.Memory, c.Ports)
		for _, kv := range c.Env {
			if !strings.HasPrefix(kv, "RENSEI_") {
				fmt.Fprintf(&b, "|env %s", kv)
			}
		}
		for _, n := range c.Networks {
			fmt.Fprintf(&b, "|net %s %s", strings.TrimPrefix(n.Network, env+"_"), n.IPv4)
		}
		for _, m := range c.Mounts {
			fmt.Fprintf(&b, "|mount %s %v", m.Target, m.ReadOnly)
		}
		for _, f := range c.Files {
			fmt.Fprintf(&b, "|file %s %o %q", f.Path, f.Mode, f.Content)
		}
		lines = append(lines, b.String())
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// envSignature is an environment's content without its name: its groups
// by name and content, its networks by name, subnet and MTU.
func (s *side) envSignature(env string) string {
	o := s.objects(env)
	var parts []string
	for _, g := range names(o.groups) {
		parts = append(parts, "group "+g+"\n"+s.groupSignature(env, g))
	}
	nets := map[string]string{}
	for _, hostNets := range s.networks {
		for _, n := range hostNets {
			if n.Labels[drivers.LabelEnv] == env {
				nets[n.Labels[drivers.LabelNetwork]] = fmt.Sprintf("network %s %s %d", n.Labels[drivers.LabelNetwork], n.Subnet, n.MTU)
			}
		}
	}
	for _, n := range names(o.networks) {
		parts = append(parts, nets[n])
	}
	return strings.Join(parts, "\n")
}
