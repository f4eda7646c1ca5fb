package render

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/history"
	"github.com/rensei-dev/rensei/reconcile/status"
)

// Lines of one entry's detail shown in text before "… N more".
const maxDetail = 12

// Timeline writes the audit trail as text, oldest first: one heading line
// per entry (time, kind, who or where, status), then its details indented.
func Timeline(w io.Writer, t *history.Timeline, now time.Time) error {
	var b strings.Builder
	subject := "all environments"
	if t.Env != "" {
		subject = "environment " + t.Env
	}
	commits, reports := 0, 0
	for _, e := range t.Entries {
		switch e.Kind {
		case history.KindCommit:
			commits++
		case history.KindReport:
			reports++
		}
	}
	fmt.Fprintf(&b, "History of %s at %s (%s): %s, %s from %s.\n", subject, t.Ref, gitrepo.Short(t.Head), change.Count(commits, "commit"), change.Count(reports, "report"), t.StatusBranch)
	for _, n := range t.Notes {
		b.WriteString("Note: " + n + "\n")
	}
	for _, e := range t.Entries {
		b.WriteString("\n")
		stamp := e.Time.UTC().Format("2006-01-02 15:04:05Z")
		switch e.Kind {
		case history.KindCommit:
			c := e.Commit
			kind := "commit"
			if c.Merge {
				kind = "merge"
			}
			sig := c.Signature
			switch {
			case c.SignedBy != "":
				sig += " by " + c.SignedBy
			case c.SignatureError != "":
				sig += ": " + c.SignatureError
			}
			fmt.Fprintf(&b, "%s  %s %s  %s <%s>  %s\n", stamp, kind, gitrepo.Short(c.Hash), c.Author, c.Email, sig)
			detail(&b, messageLines(c.Message))
			switch {
			case len(c.Problems) > 0:
				lines := []string{fmt.Sprintf("! invalid configuration (%s): the daemon applies nothing until a later commit fixes it", change.Count(len(c.Problems), "problem"))}
				for _, p := range c.Problems {
					lines = append(lines, "  "+p.String())
				}
				detail(&b, lines)
			case c.Error != "":
				detail(&b, []string{"! not evaluated: " + c.Error})
			case c.Diff != nil:
				detail(&b, Headlines(*c.Diff))
			}
		case history.KindReport:
			v := e.Report
			fmt.Fprintf(&b, "%s  report %s  %s\n", stamp, v.Host, reportStatus(v))
			var lines []string
			if v.Invalid != "" {
				lines = append(lines, "! "+v.Path+": "+v.Invalid)
			}
			if r := v.Report; r != nil {
				if r.Error != "" {
					lines = append(lines, "error: "+r.Error)
				}
				for _, section := range []struct {
					name  string
					items []status.Item
				}{{"drift", r.Drift}, {"applied", r.Applied}, {"failed", r.Failed}} {
					for _, it := range section.items {
						lines = append(lines, section.name+": "+itemLine(it))
					}
				}
				if r.Refused != nil {
					lines = append(lines, "refused: "+refusal(r.Refused))
				}
			}
			detail(&b, lines)
		case history.KindWindow:
			w := e.Window
			what := "opens: the environment comes up"
			if w.Event == history.Closes {
				what = "closes: torn down, volumes kept"
			}
			later := ""
			if e.Time.After(now) {
				later = " (scheduled)"
			}
			fmt.Fprintf(&b, "%s  window %s %s%s\n", stamp, w.Env, what, later)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func reportStatus(v *status.Version) string {
	r := v.Report
	if r == nil {
		return "unreadable"
	}
	parts := []string{r.State()}
	if r.Commit != "" {
		parts[0] += " at " + gitrepo.Short(r.Commit)
	}
	if n := len(r.Drift); n > 0 {
		parts = append(parts, change.Count(n, "drift"))
	}
	if n := len(r.Applied); n > 0 {
		parts = append(parts, change.Count(n, "step")+" applied")
	}
	if n := len(r.Failed); n > 0 {
		parts = append(parts, change.Count(n, "step")+" failed")
	}
	return strings.Join(parts, ", ")
}

// itemLine is one report item: "create container x: absent: error".
func itemLine(it status.Item) string {
	s := fmt.Sprintf("%s %s %s: %s", it.Action, it.Kind, it.Name, it.Reason)
	if it.Error != "" {
		s += ": " + it.Error
	}
	return s
}

// refusal is a refused or held revision on one line.
func refusal(r *status.Refusal) string {
	s := "commit " + gitrepo.Short(r.Commit) + ": " + strings.Replace(r.Reason, ":\n", ": ", 1)
	if r.Held {
		s += " (held)"
	}
	return s
}

// messageLines is the commit message, blank lines dropped.
func messageLines(m string) []string {
	var out []string
	for _, l := range strings.Split(m, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, "| "+l)
		}
	}
	return out
}

func detail(b *strings.Builder, lines []string) {
	for i, l := range lines {
		if i == maxDetail {
			fmt.Fprintf(b, "    … %d more\n", len(lines)-i)
			return
		}
		b.WriteString("    " + l + "\n")
	}
}
