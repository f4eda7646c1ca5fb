package compare

import (
	"fmt"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/place"
)

// compareEnvs lists environments created, removed, or changed: their
// state or window, or any of their objects.
func compareEnvs(base, head *place.Desired, b, h *side, d Diff) []Change {
	out := []Change{}
	for _, name := range unionKeys(b.envs, h.envs) {
		old, inBase := b.envs[name]
		cur, inHead := h.envs[name]
		c := Change{Ref: change.Ref{Kind: change.KindEnvironment, Name: name, Env: name}}
		switch {
		case inBase && inHead:
			if old.State != cur.State {
				c.Fields = append(c.Fields, change.Field{Name: "state", From: string(old.State), To: string(cur.State)})
			}
			if !old.From.Equal(cur.From) {
				c.Fields = append(c.Fields, change.Field{Name: "active from", From: when(old.From), To: when(cur.From)})
			}
			if !old.Until.Equal(cur.Until) {
				c.Fields = append(c.Fields, change.Field{Name: "active until", From: when(old.Until), To: when(cur.Until)})
			}
			var notes []string
			switch {
			case old.State == place.Active && cur.State != place.Active:
				notes = append(notes, "torn down, volumes kept")
			case old.State != place.Active && cur.State == place.Active:
				notes = append(notes, "comes up now: "+h.objects(name).String())
			}
			if s := d.ForEnv(name).Counts().Short(); s != "" {
				notes = append(notes, s)
			}
			if len(c.Fields) == 0 && len(notes) == 0 {
				continue
			}
			c.Action, c.Note = change.Update, strings.Join(notes, "; ")
		case inHead:
			c.Action = change.Create
			switch cur.State {
			case place.Active:
				c.Note = "active: " + h.objects(name).String()
			case place.Scheduled:
				c.Note = "scheduled from " + when(cur.From) + ": nothing is created before"
			case place.Ended:
				c.Note = "already ended (until " + when(cur.Until) + "): nothing is created"
			}
		default:
			c.Action = change.Delete
			o := b.objects(name)
			c.Note = fmt.Sprintf("%s and %s deleted", change.Count(o.instances, "instance"), change.Count(len(o.networks), "network"))
			if o.volumes > 0 {
				c.Note += "; " + change.Count(o.volumes, "volume") + " kept with their data"
			}
		}
		out = append(out, c)
	}
	return out
}

// when renders a window bound: a date at midnight UTC, else RFC 3339.
func when(t time.Time) string {
	switch {
	case t.IsZero():
		return "open"
	case t.Equal(t.Truncate(24*time.Hour)) && t.Location() == time.UTC:
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}

// renames finds what looks like a rename between the two revisions, by
// content only (change.Renames): the same detector the live plan uses.
func renames(base, head *place.Desired) []change.Rename {
	return change.Renames(base.Inventory(), head.Inventory())
}
