package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rensei-dev/rensei/reconcile/engine"
)

// Volumes writes owned volumes as a table.
func Volumes(w io.Writer, rows []engine.VolumeRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tVOLUME\tENV\tSTATE\tGROUP\tINSTANCE\tCREATED\tDESIRED\tMOUNTED BY")
	for _, v := range rows {
		desired := "no"
		if len(v.DesiredBy) > 0 {
			desired = "yes"
		}
		mountedBy := "?"
		if v.MountsKnown {
			mountedBy = "-"
			if len(v.MountedBy) > 0 {
				mountedBy = strings.Join(v.MountedBy, ", ")
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Host, v.Name, v.Env, v.EnvState,
			dash(v.Group), dash(v.Instance), created(v.Created), desired, mountedBy)
	}
	if len(rows) == 0 {
		fmt.Fprintln(tw, "(no owned volumes)\t\t\t\t\t\t\t\t")
	}
	return tw.Flush()
}

// PrunePlan writes what prune keeps (and why) and what it deletes.
func PrunePlan(w io.Writer, doomed []engine.VolumeRow, kept []engine.KeptVolume) {
	for _, v := range kept {
		fmt.Fprintf(w, "  = keep   %s %s: %s\n", v.Host, v.Name, v.Why)
	}
	for _, v := range doomed {
		fmt.Fprintf(w, "  - delete %s %s: created %s, environment %s, unused\n", v.Host, v.Name, created(v.Created), v.EnvState)
	}
}

// created renders a creation time in local time, "?" when unknown.
func created(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.Local().Format(time.DateTime)
}
