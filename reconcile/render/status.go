package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/status"
)

// Reports writes the latest report of every host as a table: host, state,
// config commit, since when, and the first thing worth reading.
func Reports(w io.Writer, reports []status.Report, now time.Time) error {
	if len(reports) == 0 {
		_, err := fmt.Fprintln(w, "No reports yet.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSTATE\tCONFIG\tSINCE\tDETAIL")
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s (%s ago)\t%s\n", r.Key(), r.State(), gitrepo.Short(r.Commit),
			r.Time.Local().Format(time.DateTime), now.Sub(r.Time).Round(time.Second), ReportDetail(r))
	}
	return tw.Flush()
}

// ReportDetail is the first thing worth reading in a report, on one line.
func ReportDetail(r status.Report) string {
	first := func(s string) string { line, _, _ := strings.Cut(s, "\n"); return line }
	switch {
	case r.Refused != nil:
		verb := "refused"
		if r.Refused.Held {
			verb = "held"
		}
		return fmt.Sprintf("%s %s: %s", verb, gitrepo.Short(r.Refused.Commit), first(strings.Replace(r.Refused.Reason, ":\n", ": ", 1)))
	case r.Error != "":
		return first(r.Error)
	case len(r.Failed) > 0:
		f := r.Failed[0]
		return fmt.Sprintf("%d failed: %s %s %s: %s", len(r.Failed), f.Action, f.Kind, f.Name, f.Error)
	case len(r.Drift) > 0:
		d := r.Drift[0]
		more := ""
		if len(r.Drift) > 1 {
			more = fmt.Sprintf(" (+%d more)", len(r.Drift)-1)
		}
		return fmt.Sprintf("%s %s %s: %s%s", d.Action, d.Kind, d.Name, d.Reason, more)
	}
	return ""
}
