package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/compare"
)

// Render writes the diff as text: renames first, then environments and
// groups, then every host's objects, then a summary line. colour adds
// ANSI colours.
func Compare(w io.Writer, d compare.Diff, colour bool) error {
	var b strings.Builder
	if d.Empty() {
		b.WriteString("No differences: both revisions want the same thing on every host.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	for _, r := range d.Renames {
		b.WriteString(loud(colour, "! "+r.String()) + "\n")
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
			b.WriteString(paint(colour, e.Action, fmt.Sprintf("  %s %-*s  %s", symbols[e.Action], width, e.Name, e.Describe())) + "\n")
		}
	}
	if len(d.Groups) > 0 {
		b.WriteString("Groups:\n")
		width := 0
		for _, g := range d.Groups {
			width = max(width, len(g.Env)+1+len(g.Name))
		}
		for _, g := range d.Groups {
			b.WriteString(paint(colour, g.Action, fmt.Sprintf("  %s %-*s  %s", symbols[g.Action], width, g.Env+"/"+g.Name, g.Describe())) + "\n")
		}
	}
	for _, h := range d.Hosts {
		b.WriteString("\n" + hostHeading(h) + ":\n")
		width := 0
		for _, c := range h.Changes {
			width = max(width, len(c.Name))
		}
		for _, c := range h.Changes {
			b.WriteString(paint(colour, c.Action, strings.TrimRight(fmt.Sprintf("  %s %-9s %-*s  %s", symbols[c.Action], c.Kind, width, c.Name, c.Describe()), " ")) + "\n")
		}
	}
	b.WriteString("\nDiff: " + d.Counts().String() + ".\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// hostHeading names a host and says what happens to the host itself.
func hostHeading(h compare.HostDiff) string {
	switch h.Action {
	case change.Create:
		return h.Host + " (new host)"
	case change.Delete:
		return h.Host + " (host removed from the topology)"
	case change.Update:
		var fs []string
		for _, f := range h.Fields {
			fs = append(fs, f.String())
		}
		return h.Host + " (host changed: " + strings.Join(fs, "; ") + ")"
	}
	return h.Host
}

// Headlines describe the diff in a few lines, for a timeline: renames,
// environments and groups, and host-level changes.
func Headlines(d compare.Diff) []string {
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
