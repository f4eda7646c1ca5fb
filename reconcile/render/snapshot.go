package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/rensei-dev/rensei/reconcile/engine"
)

// maxStale bounds the changes a refused saved plan lists.
const maxStale = 20

// StaleChanges writes what changed since a saved plan was made, one line
// each, at most maxStale of them.
func StaleChanges(w io.Writer, cs []engine.SnapshotChange) error {
	var b strings.Builder
	for i, c := range cs {
		if i == maxStale {
			fmt.Fprintf(&b, "  … and %d more\n", len(cs)-maxStale)
			break
		}
		b.WriteString("  " + SnapshotChange(c) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// SnapshotChange is one change in words: "live: campus/h1: container x
// changed", "revision: commit 1a2b3c4d5e6f → 9f8e7d6c5b4a".
func SnapshotChange(c engine.SnapshotChange) string {
	var what string
	switch {
	case c.Part == "revision" && c.Object == "commit":
		what = fmt.Sprintf("commit %s → %s", short(c.From), short(c.To))
	case c.Object == "host" && c.To == "unreachable":
		what = "the host is unreachable"
	case c.From == "(absent)":
		what = c.Object + " appeared"
	case c.To == "(absent)":
		what = c.Object + " is gone"
	case c.From != "" || c.To != "":
		what = fmt.Sprintf("%s: %s → %s", c.Object, dash(c.From), dash(c.To))
	default:
		what = c.Object + " changed"
	}
	if c.Host != "" {
		what = c.Host + ": " + what
	}
	return c.Part + ": " + what
}
