package diff

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// symbols mark each action in text output, as plan's do.
var symbols = map[Action]string{Create: "+", Modify: "~", Delete: "-", Keep: "="}

// ANSI colours per action, used only when writing to a terminal.
var colours = map[Action]string{Create: "\x1b[32m", Modify: "\x1b[33m", Delete: "\x1b[31m", Keep: "\x1b[2m"}

const (
	bold  = "\x1b[1m"
	reset = "\x1b[0m"
)

// Render writes the diff as text: renames first, then environments and
// groups, then every host's objects, then a summary line. colour adds
// ANSI colours.
func Render(w io.Writer, d Diff, colour bool) error {
	var b strings.Builder
	paint := func(a Action, s string) string {
		if colour {
			return colours[a] + s + reset
		}
		return s
	}
	if d.Empty() {
		b.WriteString("No differences: both revisions want the same thing on every host.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	for _, r := range d.Renames {
		line := "! " + r.String()
		if colour {
			line = bold + colours[Delete] + line + reset
		}
		b.WriteString(line + "\n")
	}
	if len(d.Renames) > 0 {
		b.WriteString("\n")
	}
	if len(d.Environments) > 0 {
		b.WriteString("Environments:\n")
		width := 0
		for _, e := range d.Environments {
			width = max(width, len(e.Name))
		}
		for _, e := range d.Environments {
			b.WriteString(paint(e.Action, fmt.Sprintf("  %s %-*s  %s", symbols[e.Action], width, e.Name, e.Describe())) + "\n")
		}
	}
	if len(d.Groups) > 0 {
		b.WriteString("Groups:\n")
		width := 0
		for _, g := range d.Groups {
			width = max(width, len(g.Env)+1+len(g.Name))
		}
		for _, g := range d.Groups {
			b.WriteString(paint(g.Action, fmt.Sprintf("  %s %-*s  %s", symbols[g.Action], width, g.Env+"/"+g.Name, g.Describe())) + "\n")
		}
	}
	for _, h := range d.Hosts {
		b.WriteString("\n" + hostHeading(h) + ":\n")
		width := 0
		for _, c := range h.Changes {
			width = max(width, len(c.Name))
		}
		for _, c := range h.Changes {
			b.WriteString(paint(c.Action, strings.TrimRight(fmt.Sprintf("  %s %-9s %-*s  %s", symbols[c.Action], c.Kind, width, c.Name, c.Describe()), " ")) + "\n")
		}
	}
	b.WriteString("\nDiff: " + d.Counts().String() + ".\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// hostHeading names a host and says what happens to the host itself.
func hostHeading(h HostDiff) string {
	switch h.Action {
	case Create:
		return h.Host + " (new host)"
	case Delete:
		return h.Host + " (host removed from the topology)"
	case Modify:
		var fs []string
		for _, f := range h.Fields {
			fs = append(fs, f.String())
		}
		return h.Host + " (host changed: " + strings.Join(fs, "; ") + ")"
	}
	return h.Host
}

// String renders every non-zero tally: "environments +1; containers +31 ~30 -3; volumes +30, 3 kept".
func (c Counts) String() string {
	s := tallies([]namedTally{{"environments", c.Environments}, {"groups", c.Groups}, {"hosts", c.Hosts},
		{"containers", c.Containers}, {"networks", c.Networks}, {"tunnels", c.Tunnels}, {"volumes", c.Volumes}})
	if s == "" {
		return "no differences"
	}
	return s
}

// Short renders the tallies of objects on hosts only (no environments or
// groups): "containers +1 ~30 -2; volumes +1, 2 kept".
func (c Counts) Short() string {
	return tallies([]namedTally{{"hosts", c.Hosts}, {"containers", c.Containers}, {"networks", c.Networks},
		{"tunnels", c.Tunnels}, {"volumes", c.Volumes}})
}

type namedTally struct {
	noun string
	t    Tally
}

func tallies(ts []namedTally) string {
	var parts []string
	for _, k := range ts {
		if !k.t.Zero() {
			parts = append(parts, k.noun+" "+k.t.String())
		}
	}
	return strings.Join(parts, "; ")
}

// String renders a tally as signed counts: "+1 ~30 -2, 3 kept".
func (t Tally) String() string {
	var s []string
	if t.Create > 0 {
		s = append(s, "+"+strconv.Itoa(t.Create))
	}
	if t.Change > 0 {
		s = append(s, "~"+strconv.Itoa(t.Change))
	}
	if t.Delete > 0 {
		s = append(s, "-"+strconv.Itoa(t.Delete))
	}
	out := strings.Join(s, " ")
	if t.Keep > 0 {
		if out != "" {
			out += ", "
		}
		out += strconv.Itoa(t.Keep) + " kept"
	}
	return out
}

// Headlines describe the diff in a few lines, for a timeline: renames,
// environments and groups, and host-level changes.
func (d Diff) Headlines() []string {
	var out []string
	for _, r := range d.Renames {
		out = append(out, "! "+r.String())
	}
	for _, e := range d.Environments {
		out = append(out, strings.TrimRight(fmt.Sprintf("%s environment %s: %s", symbols[e.Action], e.Name, e.Describe()), ": "))
	}
	for _, g := range d.Groups {
		out = append(out, strings.TrimRight(fmt.Sprintf("%s group %s/%s: %s", symbols[g.Action], g.Env, g.Name, g.Describe()), ": "))
	}
	for _, h := range d.Hosts {
		if h.Action != "" {
			out = append(out, symbols[h.Action]+" host "+hostHeading(h))
		}
	}
	if len(out) == 0 && !d.Empty() {
		out = append(out, "~ "+d.Counts().Short())
	}
	return out
}
