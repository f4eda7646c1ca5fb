package plan

import (
	"fmt"
	"io"
	"strings"
)

// symbols mark each action in text output, as Terraform does.
var symbols = map[Action]string{Create: "+", Replace: "±", Update: "~", Delete: "-", Skip: "="}

// ANSI colours per action, used only when writing to a terminal.
var colours = map[Action]string{Create: "\x1b[32m", Replace: "\x1b[35m", Update: "\x1b[33m", Delete: "\x1b[31m", Skip: "\x1b[2m"}

const reset = "\x1b[0m"

// Render writes the plan as text: steps grouped by host, one a line, then
// a summary line. colour adds ANSI colours.
func Render(w io.Writer, p Plan, colour bool) error {
	var b strings.Builder
	for _, w := range p.Warnings {
		line := "! " + w
		if colour {
			line = "\x1b[1;31m" + line + reset
		}
		b.WriteString(line + "\n")
	}
	host := ""
	for i := 0; i < len(p.Steps); i++ {
		s := p.Steps[i]
		if s.Host != host {
			host = s.Host
			fmt.Fprintf(&b, "%s\n", host)
		}
		line := fmt.Sprintf("  %s %-9s %s: %s", symbols[s.Action], s.Kind, s.Name, s.Reason)
		// A semester's worth of kept volumes is one line, not hundreds.
		if n := sameSkips(p.Steps[i:]); n >= collapseAt {
			line = fmt.Sprintf("  %s %-9s %d volumes (%s … %s): %s", symbols[s.Action], s.Kind, n, s.Name, p.Steps[i+n-1].Name, s.Reason)
			i += n - 1
		}
		if colour {
			line = colours[s.Action] + line + reset
		}
		b.WriteString(line + "\n")
	}
	b.WriteString(Summary(p) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// collapseAt is the number of identical skipped volume steps from which
// text output prints one line for them.
const collapseAt = 4

// sameSkips counts the leading skipped volume steps of one host that share
// the first one's reason.
func sameSkips(steps []Step) int {
	first := steps[0]
	if first.Kind != KindVolume || first.Action != Skip {
		return 0
	}
	n := 1
	for n < len(steps) && steps[n].Host == first.Host && steps[n].Kind == KindVolume &&
		steps[n].Action == Skip && steps[n].Reason == first.Reason {
		n++
	}
	return n
}

// Summary counts the steps by action: "Plan: 2 to create, 1 to delete."
func Summary(p Plan) string {
	n := map[Action]int{}
	for _, s := range p.Steps {
		n[s.Action]++
	}
	down := 0
	for _, s := range p.Steps {
		if s.Kind == KindHost && s.Action == Skip {
			down++
		}
	}
	if p.Empty() {
		switch {
		case down > 0:
			return fmt.Sprintf("No changes on the reachable hosts; %d host(s) unreachable, not planned.", down)
		case n[Skip] > 0:
			return fmt.Sprintf("No changes: every host is converged (%d skipped).", n[Skip])
		}
		return "No changes: every host is converged."
	}
	if down > 0 {
		return fmt.Sprintf("Plan: %d to create, %d to replace, %d to update, %d to delete, %d skipped; %d host(s) unreachable, not planned.",
			n[Create], n[Replace], n[Update], n[Delete], n[Skip]-down, down)
	}
	return fmt.Sprintf("Plan: %d to create, %d to replace, %d to update, %d to delete, %d skipped.",
		n[Create], n[Replace], n[Update], n[Delete], n[Skip])
}
