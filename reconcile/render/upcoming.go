package render

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/engine"
)

// Openings writes, after a live plan, what the environments whose window
// has not opened yet will do when it opens, one line each: "cs101-2027-fall
// opens 2027-09-01: containers +40; volumes +40 (campus +20, cloud +20)".
// It writes nothing when there are none.
func Openings(w io.Writer, ups []engine.Upcoming, colour bool) error {
	if len(ups) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("\nWhen scheduled windows open (nothing is applied before):\n")
	for _, u := range ups {
		line := fmt.Sprintf("  %s opens %s: %s", u.Env, day(u.Opens), u.Summary())
		if sites := perSite(u); sites != "" && u.Error == "" {
			line += " [" + sites + "]"
		}
		b.WriteString(paint(colour, change.Create, line) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// perSite counts the containers an opening creates per site: "campus +20, cloud +20".
func perSite(u engine.Upcoming) string {
	n := map[string]int{}
	for _, h := range u.Diff.Hosts {
		for _, c := range h.Changes {
			if c.Kind == change.KindContainer && c.Action == change.Create {
				n[h.Site]++
			}
		}
	}
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%s +%d", s, n[s]))
	}
	return strings.Join(parts, ", ")
}
