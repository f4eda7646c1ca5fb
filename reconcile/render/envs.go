package render

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/place"
)

// Envs writes environments as a table (rensei env list): state, window,
// running of desired instances, per site, drift, last applied commit and
// how many problems.
func Envs(w io.Writer, envs []engine.EnvView, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENVIRONMENT\tSTATE\tWINDOW\tRUNNING\tSITES\tDRIFT\tCOMMIT\tPROBLEMS")
	for _, v := range envs {
		var sites []string
		for _, s := range v.Sites {
			sites = append(sites, fmt.Sprintf("%s %d/%d", s.Site, s.Running, s.Desired))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\n", v.Name, v.State, EnvWindow(v, now), running(v),
			dash(strings.Join(sites, ", ")), len(v.Drift), short(v.Commit), len(v.Problems))
	}
	if len(envs) == 0 {
		fmt.Fprintln(tw, "(no environments)\t\t\t\t\t\t\t")
	}
	return tw.Flush()
}

// Env writes one environment in detail (rensei env show).
func Env(w io.Writer, v engine.EnvView, now time.Time, colour bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Environment %s\n", v.Name)
	if v.Owner != "" {
		fmt.Fprintf(&b, "  Owner:     %s\n", v.Owner)
	}
	if len(v.Labels) > 0 {
		var ls []string
		for _, k := range slices.Sorted(maps.Keys(v.Labels)) {
			ls = append(ls, k+"="+v.Labels[k])
		}
		fmt.Fprintf(&b, "  Labels:    %s\n", strings.Join(ls, ", "))
	}
	fmt.Fprintf(&b, "  State:     %s, %s\n", v.State, EnvWindow(v, now))
	switch {
	case v.Commit == "":
		b.WriteString("  Commit:    - (no container carries one)\n")
	case len(v.Commits) > 1:
		var older []string
		for _, c := range v.Commits[1:] {
			older = append(older, gitrepo.Short(c))
		}
		fmt.Fprintf(&b, "  Commit:    %s (last applied; older containers carry %s)\n", gitrepo.Short(v.Commit), strings.Join(older, ", "))
	default:
		fmt.Fprintf(&b, "  Commit:    %s (last applied)\n", gitrepo.Short(v.Commit))
	}
	fmt.Fprintf(&b, "  Instances: %d running of %d desired", v.Running, v.Desired)
	if v.Undesired > 0 {
		fmt.Fprintf(&b, "; %d container(s) no longer desired", v.Undesired)
	}
	b.WriteString("\n")
	for _, s := range v.Sites {
		var hosts []string
		for _, h := range s.Hosts {
			hosts = append(hosts, fmt.Sprintf("%s %d/%d", h.Host, h.Running, h.Desired))
		}
		fmt.Fprintf(&b, "    %-12s %d/%d  (%s)\n", s.Site, s.Running, s.Desired, strings.Join(hosts, ", "))
	}
	if len(v.Drift) == 0 {
		b.WriteString("  Drift:     none: its objects match the configuration\n")
	} else {
		fmt.Fprintf(&b, "  Drift:     %d step(s) for apply\n", len(v.Drift))
		for _, d := range v.Drift {
			b.WriteString(paint(colour, d.Action, fmt.Sprintf("    %s: %s %s %s: %s", d.Host, Symbol(d.Action), d.Kind, d.Name, d.Reason)) + "\n")
		}
	}
	if len(v.Problems) == 0 {
		b.WriteString("  Problems:  none\n")
	} else {
		fmt.Fprintf(&b, "  Problems:  %d\n", len(v.Problems))
		for _, p := range v.Problems {
			where := p.Object
			if p.Host != "" {
				where += " on " + p.Host
			}
			fmt.Fprintf(&b, "    %s: %s: %s\n", p.Code, where, p.Detail)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// EnvWindow describes an environment's window at now: "opens 2027-09-01
// (in 120d)", "since 2027-04-01, until 2027-08-01 (ends in 20d)".
func EnvWindow(v engine.EnvView, now time.Time) string {
	switch v.State {
	case string(place.Scheduled):
		return fmt.Sprintf("opens %s (in %s)", day(v.From), Age(v.From.Sub(now)))
	case string(place.Ended):
		return fmt.Sprintf("ended %s (%s ago)", day(v.Until), Age(now.Sub(v.Until)))
	case engine.EnvRemoved:
		return "not in the configuration"
	}
	switch {
	case !v.From.IsZero() && !v.Until.IsZero():
		return fmt.Sprintf("since %s, until %s (ends in %s)", day(v.From), day(v.Until), Age(v.Until.Sub(now)))
	case !v.From.IsZero():
		return "since " + day(v.From)
	case !v.Until.IsZero():
		return fmt.Sprintf("until %s (ends in %s)", day(v.Until), Age(v.Until.Sub(now)))
	}
	return "always"
}

// running is "running/desired", and "+N" for containers not desired.
func running(v engine.EnvView) string {
	s := fmt.Sprintf("%d/%d", v.Running, v.Desired)
	if v.Undesired > 0 {
		s += fmt.Sprintf(" +%d", v.Undesired)
	}
	return s
}

// short is a commit's short form, "-" for none.
func short(commit string) string {
	if commit == "" {
		return "-"
	}
	return gitrepo.Short(commit)
}

// day renders a window bound: a date at midnight UTC, else RFC 3339.
func day(t time.Time) string {
	if t.Equal(t.Truncate(24*time.Hour)) && t.Location() == time.UTC {
		return t.Format(time.DateOnly)
	}
	return t.UTC().Format(time.RFC3339)
}
