package render

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/rensei-dev/rensei/reconcile/engine"
)

// Hosts writes host probes as a table.
func Hosts(w io.Writer, rows []engine.HostProbe) error {
	yesNo := func(b bool, unknown bool) string {
		switch {
		case unknown:
			return "-"
		case b:
			return "yes"
		}
		return "no"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tDOCKER\tVERSION\tUNDERLAY\tPRESENT\tVXLAN\tERROR")
	for _, r := range rows {
		st := r.Status
		noNet := !st.Reachable || r.Underlay == ""
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Host, r.Docker, dash(st.DockerVersion), dash(r.Underlay),
			yesNo(st.UnderlayFound, noNet), yesNo(st.VXLAN, noNet), dash(st.Error))
	}
	return tw.Flush()
}

// dash renders "" as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
