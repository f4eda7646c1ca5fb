package history

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Lines of one entry's detail shown in text before "… N more".
const maxDetail = 12

// Render writes the timeline as text, oldest first: one heading line per
// entry (time, kind, who or where, status), then its details indented.
func Render(w io.Writer, t *Timeline, now time.Time) error {
	var b strings.Builder
	subject := "all environments"
	if t.Env != "" {
		subject = "environment " + t.Env
	}
	commits, reports := 0, 0
	for _, e := range t.Entries {
		switch e.Kind {
		case "commit":
			commits++
		case "report":
			reports++
		}
	}
	fmt.Fprintf(&b, "History of %s at %s (%s): %s, %s from %s.\n", subject, t.Ref, short(t.Head), plural(commits, "commit"), plural(reports, "report"), t.StatusBranch)
	for _, n := range t.Notes {
		b.WriteString("Note: " + n + "\n")
	}
	for _, e := range t.Entries {
		b.WriteString("\n")
		stamp := e.Time.UTC().Format("2006-01-02 15:04:05Z")
		switch e.Kind {
		case "commit":
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
			fmt.Fprintf(&b, "%s  %s %s  %s <%s>  %s\n", stamp, kind, short(c.Hash), c.Author, c.Email, sig)
			detail(&b, messageLines(c.Message))
			switch {
			case len(c.Problems) > 0:
				lines := []string{fmt.Sprintf("! invalid configuration (%s): the daemon applies nothing until a later commit fixes it", plural(len(c.Problems), "problem"))}
				for _, p := range c.Problems {
					lines = append(lines, "  "+p.String())
				}
				detail(&b, lines)
			case c.Error != "":
				detail(&b, []string{"! not evaluated: " + c.Error})
			case c.Diff != nil:
				detail(&b, c.Diff.Headlines())
			}
		case "report":
			r := e.Report
			fmt.Fprintf(&b, "%s  report %s  %s\n", stamp, r.Host, reportStatus(r))
			var lines []string
			if r.Invalid != "" {
				lines = append(lines, "! "+r.Path+": "+r.Invalid)
			}
			if r.Error != "" {
				lines = append(lines, "error: "+r.Error)
			}
			for _, d := range r.Drift {
				lines = append(lines, "drift: "+d)
			}
			for _, a := range r.Applied {
				lines = append(lines, "applied: "+a)
			}
			for _, f := range r.Failed {
				lines = append(lines, "failed: "+f)
			}
			if r.Refused != "" {
				lines = append(lines, "refused: "+r.Refused)
			}
			detail(&b, lines)
		case "window":
			w := e.Window
			what := "opens: the environment comes up"
			if w.Event == "closes" {
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

func reportStatus(r *Report) string {
	var parts []string
	switch {
	case r.Converged == nil:
		parts = append(parts, "status unknown")
	case *r.Converged:
		parts = append(parts, "converged")
	default:
		parts = append(parts, "not converged")
	}
	if r.Commit != "" {
		parts[0] += " at " + short(r.Commit)
	}
	if n := len(r.Drift); n > 0 {
		parts = append(parts, plural(n, "drift"))
	}
	if n := len(r.Applied); n > 0 {
		parts = append(parts, plural(n, "step")+" applied")
	}
	if n := len(r.Failed); n > 0 {
		parts = append(parts, plural(n, "step")+" failed")
	}
	if r.Refused != "" {
		parts = append(parts, "refused a commit")
	}
	return strings.Join(parts, ", ")
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

func short(h string) string {
	if len(h) > 7 {
		return h[:7]
	}
	return h
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
