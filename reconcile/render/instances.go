package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/engine"
)

// Instances writes instances as a table (rensei ps): environment, group,
// member, site, host, state, since when, addresses, and whether each
// matches the plan (or the plan's step for it), then a summary line and
// the hosts that could not be listed. now dates SINCE; colour paints the
// instances that differ from the plan.
func Instances(w io.Writer, l engine.InstanceList, now time.Time, colour bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tGROUP\tMEMBER\tSITE\tHOST\tSTATE\tSINCE\tADDRESSES\tPLAN")
	for _, i := range l.Instances {
		since := "-"
		if !i.Since.IsZero() {
			since = Age(now.Sub(i.Since))
		}
		var addrs []string
		for _, a := range i.Addresses {
			addrs = append(addrs, a.Network+"="+a.IPv4)
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", i.Env, i.Group, i.Member, i.Site, hostName(i.Host),
			state(i), since, dash(strings.Join(addrs, ",")), planColumn(i))
		if !i.Matches && i.Action != "" {
			line = paint(colour, i.Action, line)
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(InstanceSummary(l) + "\n")
	for _, u := range l.Unreachable {
		fmt.Fprintf(&b, "%s: unreachable, not listed: %s\n", u.Host, u.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// InstanceSummary counts instances: "5 instances: 4 running, 1 missing;
// 1 differs from the plan."
func InstanceSummary(l engine.InstanceList) string {
	if len(l.Instances) == 0 {
		return "No instances."
	}
	byState := map[string]int{}
	var order []string
	differ, extra := 0, 0
	for _, i := range l.Instances {
		if byState[i.State] == 0 {
			order = append(order, i.State)
		}
		byState[i.State]++
		if !i.Matches && i.State != engine.StateUnreachable {
			differ++
		}
		if !i.Desired {
			extra++
		}
	}
	var parts []string
	for _, s := range order {
		parts = append(parts, fmt.Sprintf("%d %s", byState[s], s))
	}
	out := fmt.Sprintf("%s: %s", change.Count(len(l.Instances), "instance"), strings.Join(parts, ", "))
	if extra > 0 {
		out += fmt.Sprintf("; %d not desired", extra)
	}
	switch differ {
	case 0:
		out += "; all match the plan."
	case 1:
		out += "; 1 differs from the plan."
	default:
		out += fmt.Sprintf("; %d differ from the plan.", differ)
	}
	return out
}

// state is the instance's state, with the exit code of one that exited.
func state(i engine.Instance) string {
	if i.State == "exited" || i.State == "dead" {
		return fmt.Sprintf("%s(%d)", i.State, i.ExitCode)
	}
	return i.State
}

// planColumn is "ok" for an instance that matches the plan, else the
// plan's step: "+ create: absent".
func planColumn(i engine.Instance) string {
	switch {
	case i.State == engine.StateUnreachable:
		return "?"
	case i.Matches:
		return "ok"
	case i.Code == change.Blocked:
		return "× blocked: " + i.Reason
	}
	return fmt.Sprintf("%s %s: %s", Symbol(i.Action), i.Action, i.Reason)
}

// hostName is the host part of "site/host".
func hostName(key string) string {
	_, h, ok := strings.Cut(key, "/")
	if !ok {
		return key
	}
	return h
}

// Age renders a duration as kubectl's ages do: "45s", "12m", "5h", "3d".
func Age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
