package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// Plan writes the plan as text: renames first, then the steps grouped by
// host, one a line, the unreachable hosts, then a summary line. colour
// adds ANSI colours.
func Plan(w io.Writer, p plan.Plan, colour bool) error {
	var b strings.Builder
	for _, r := range p.Renames {
		b.WriteString(loud(colour, "! "+r.String()) + "\n")
	}
	for _, m := range p.Moves {
		b.WriteString(loud(colour, "! "+m.String()) + "\n")
	}
	host := ""
	for i := 0; i < len(p.Steps); i++ {
		s := p.Steps[i]
		if s.Host != host {
			host = s.Host
			fmt.Fprintf(&b, "%s\n", host)
		}
		mark := symbols[s.Action]
		if s.Code == change.Blocked {
			mark = "×" // nothing is done, and it needs attention
		}
		line := fmt.Sprintf("  %s %-9s %s: %s", mark, s.Kind, s.Name, s.Reason)
		// A semester's worth of kept volumes is one line, not hundreds.
		if n := sameKeeps(p.Steps[i:]); n >= collapseAt {
			line = fmt.Sprintf("  %s %-9s %d volumes (%s … %s): %s", symbols[s.Action], s.Kind, n, s.Name, p.Steps[i+n-1].Name, s.Reason)
			i += n - 1
		}
		if s.Code == change.Blocked {
			line = loud(colour, line)
		} else {
			line = paint(colour, s.Action, line)
		}
		b.WriteString(line + "\n")
	}
	for _, u := range p.Unreachable {
		b.WriteString(paint(colour, change.Skip, fmt.Sprintf("%s: unreachable, not planned: %s", u.Host, u.Error)) + "\n")
	}
	b.WriteString(PlanSummary(p) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// collapseAt is the number of identical kept volume steps from which
// text output prints one line for them.
const collapseAt = 4

// sameKeeps counts the leading kept volume steps of one host that share
// the first one's reason.
func sameKeeps(steps []plan.Step) int {
	first := steps[0]
	if first.Kind != change.KindVolume || first.Action != change.Keep {
		return 0
	}
	n := 1
	for n < len(steps) && steps[n].Host == first.Host && steps[n].Kind == change.KindVolume &&
		steps[n].Action == change.Keep && steps[n].Reason == first.Reason {
		n++
	}
	return n
}

// PlanSummary counts the steps by action: "Plan: 2 to create, 1 to delete."
func PlanSummary(p plan.Plan) string {
	n := map[change.Action]int{}
	for _, s := range p.Steps {
		n[s.Action]++
	}
	down := len(p.Unreachable)
	rest := ""
	if n[change.Keep] > 0 {
		rest += fmt.Sprintf(", %d kept", n[change.Keep])
	}
	blocked := len(p.Blocked())
	if n[change.Skip] > blocked {
		rest += fmt.Sprintf(", %d skipped", n[change.Skip]-blocked)
	}
	if blocked > 0 {
		rest += fmt.Sprintf("; %s BLOCKED (not this deployment's objects in the way)", change.Count(blocked, "step"))
	}
	if down > 0 {
		rest += fmt.Sprintf("; %s unreachable, not planned", change.Count(down, "host"))
	}
	if p.Empty() {
		if down > 0 || blocked > 0 {
			return "No changes on the reachable hosts" + rest + "."
		}
		return "No changes: every host is converged" + rest + "."
	}
	return fmt.Sprintf("Plan: %d to create, %d to replace, %d to update, %d to delete%s.",
		n[change.Create], n[change.Replace], n[change.Update], n[change.Delete], rest)
}
