package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/compare"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
)

// Marker starts every pull-request comment Markdown writes, so a CI job
// can find its earlier comment and edit it instead of adding another.
const Marker = "<!-- rensei-plan -->"

// Markdown limits: GitHub refuses comments over 65,536 characters.
const (
	maxLinesPerHost = 100
	maxCommentBytes = 50_000
	// Lists longer than this are folded into <details>.
	foldAfter = 10
)

// Markdown writes the comment as GitHub/GitLab-flavoured Markdown: a
// heading, renames as a warning, counts, environments and groups, a
// per-site table and each host's changes (folded when long), or the
// configuration problems in a code block.
func Comment(w io.Writer, c compare.Comment) error {
	var b strings.Builder
	b.WriteString(Marker + "\n")
	fmt.Fprintf(&b, "### Rensei plan: `%s` → `%s`\n\n", c.Base.Ref, c.Head.Ref)
	fmt.Fprintf(&b, "Base `%s`, head `%s`. Desired state of both revisions compared; no host was contacted.\n\n", gitrepo.Short(c.Base.Commit), gitrepo.Short(c.Head.Commit))
	if len(c.Problems) > 0 {
		rev := c.Head
		if c.ProblemsIn == "base" {
			rev = c.Base
		}
		fmt.Fprintf(&b, "> [!CAUTION]\n> The %s revision `%s` does not validate: %s. Nothing can be planned and the daemon would apply nothing.\n\n",
			c.ProblemsIn, rev.Ref, change.Count(len(c.Problems), "configuration problem"))
		b.WriteString("```text\n")
		for _, p := range c.Problems {
			b.WriteString(strings.ReplaceAll(p.String(), "```", "'''") + "\n")
		}
		b.WriteString("```\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	if c.Diff == nil || c.Diff.Empty() {
		b.WriteString("**No differences**: both revisions want the same thing on every host.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	d := *c.Diff
	for _, r := range d.Renames {
		fmt.Fprintf(&b, "> [!WARNING]\n> **%s**\n\n", mdEscape(r.String()))
	}
	counts(&b, d.Counts())
	envsAndGroups(&b, d)
	sites(&b, d, c.Base.Ref, c.Head.Ref)
	_, err := io.WriteString(w, b.String())
	return err
}

func counts(b *strings.Builder, n compare.Counts) {
	b.WriteString("| | create | replace | update | delete |\n|:--|--:|--:|--:|--:|\n")
	for _, k := range []struct {
		noun string
		t    compare.Tally
	}{{"environments", n.Environments}, {"groups", n.Groups}, {"hosts", n.Hosts},
		{"containers", n.Containers}, {"networks", n.Networks}, {"tunnels", n.Tunnels}, {"volumes", n.Volumes}} {
		if k.t.Zero() {
			continue
		}
		del := strconv.Itoa(k.t.Delete)
		if k.t.Keep > 0 {
			del = strconv.Itoa(k.t.Keep) + " kept"
			if k.t.Delete > 0 {
				del = strconv.Itoa(k.t.Delete) + ", " + del
			}
		}
		fmt.Fprintf(b, "| %s | %d | %d | %d | %s |\n", k.noun, k.t.Create, k.t.Replace, k.t.Update, del)
	}
	b.WriteString("\n")
}

func envsAndGroups(b *strings.Builder, d compare.Diff) {
	if len(d.Environments)+len(d.Groups) == 0 {
		return
	}
	var rows []string
	for _, e := range d.Environments {
		rows = append(rows, fmt.Sprintf("| %s | environment `%s` | %s |", e.Action, e.Name, mdEscape(e.Describe())))
	}
	for _, g := range d.Groups {
		rows = append(rows, fmt.Sprintf("| %s | group `%s/%s` | %s |", g.Action, g.Env, g.Name, mdEscape(g.Describe())))
	}
	b.WriteString("#### Environments and groups\n\n")
	fold(b, fmt.Sprintf("%d environments and groups", len(rows)), "| | | |\n|:--|:--|:--|\n"+strings.Join(rows, "\n")+"\n", len(rows))
}

func sites(b *strings.Builder, d compare.Diff, base, head string) {
	b.WriteString("#### Per site\n\n| site | host | containers | networks | tunnels | volumes |\n|:--|:--|:-:|:-:|:-:|:-:|\n")
	for _, h := range d.Hosts {
		n := h.Counts()
		host := strings.TrimPrefix(h.Host, h.Site+"/")
		switch h.Action {
		case change.Create:
			host += " (new)"
		case change.Delete:
			host += " (removed)"
		case change.Update:
			host += " (changed)"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", h.Site, host, dashTally(n.Containers), dashTally(n.Networks), dashTally(n.Tunnels), dashTally(n.Volumes))
	}
	b.WriteString("\n")
	for i, h := range d.Hosts {
		if b.Len() > maxCommentBytes {
			fmt.Fprintf(b, "_Details of %s more left out to keep this comment short; run `rensei plan --base %s --head %s` to see them._\n",
				change.Count(len(d.Hosts)-i, "host"), base, head)
			return
		}
		var body strings.Builder
		body.WriteString("```diff\n")
		if h.Action == change.Update {
			fmt.Fprintf(&body, "~ host %s\n", hostHeading(h))
		}
		for j, c := range h.Changes {
			if j == maxLinesPerHost {
				fmt.Fprintf(&body, "# … and %d more\n", len(h.Changes)-j)
				break
			}
			line := fmt.Sprintf("%s %s %s", symbols[c.Action], c.Kind, c.Name)
			if s := c.Describe(); s != "" {
				line += ": " + s
			}
			body.WriteString(strings.ReplaceAll(line, "```", "'''") + "\n")
		}
		body.WriteString("```\n")
		fold(b, fmt.Sprintf("<b>%s</b>: %s", h.Host, change.Count(len(h.Changes), "change")), body.String(), len(h.Changes))
	}
}

// fold writes body, inside <details> when it has more than foldAfter lines.
func fold(b *strings.Builder, summary, body string, lines int) {
	if lines <= foldAfter {
		if strings.HasPrefix(summary, "<b>") {
			b.WriteString(summary + "\n\n")
		}
		b.WriteString(body + "\n")
		return
	}
	fmt.Fprintf(b, "<details><summary>%s</summary>\n\n%s\n</details>\n\n", summary, body)
}

func dashTally(t compare.Tally) string {
	if t.Zero() {
		return "–"
	}
	return t.String()
}

// mdEscape keeps table cells and quotes intact.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "\n", " ").Replace(s)
}
