package render

import (
	"encoding/csv"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/rensei-dev/rensei/reconcile/engine"
)

// CSV is the format for spreadsheets and learning management systems.
const CSV = "csv"

// Members writes how each member reaches their instance as a table.
func Members(w io.Writer, rows []engine.Member) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tURL\tTOKEN\tSITE\tHOST\tSTATE")
	for _, m := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Member, m.URL, dash(m.Token), m.Site, m.Host, m.State)
	}
	if len(rows) == 0 {
		fmt.Fprintln(tw, "(no member has access: the environment has no access section, or it is not active)\t\t\t\t\t")
	}
	return tw.Flush()
}

// MembersCSV writes the same as CSV with a header line, ready for import
// into a learning management system.
func MembersCSV(w io.Writer, rows []engine.Member) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"member", "url", "token", "environment", "site", "host", "state"})
	for _, m := range rows {
		cw.Write([]string{m.Member, m.URL, m.Token, m.Env, m.Site, m.Host, m.State})
	}
	cw.Flush()
	return cw.Error()
}
