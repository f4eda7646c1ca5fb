package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/compare"
	"github.com/rensei-dev/rensei/reconcile/place"
)

// Upcoming is what happens to an environment whose active window has not
// opened yet, when it opens: what is desired of it at the opening,
// compared with a base, restricted to it.
type Upcoming struct {
	Env   string    `json:"env"`
	Opens time.Time `json:"opens"`
	// Diff is restricted to Env (compare.Diff.ForEnv).
	Diff compare.Diff `json:"diff"`
	// Error: a revision could not be placed at the opening.
	Error string `json:"error,omitempty"`
}

// opening is a moment at which scheduled environments open.
type opening struct {
	at   time.Time
	envs []string
}

// openings lists the environments of the revisions that are scheduled
// at t (their window opens later), grouped by when they open: the first
// revision that has the environment says when.
func openings(t time.Time, revs ...*Revision) []opening {
	byTime := map[time.Time][]string{}
	seen := map[string]bool{}
	for _, r := range revs {
		if r == nil {
			continue
		}
		for _, e := range r.Topology.Environments {
			from, _ := e.Active.Bounds()
			if seen[e.Name] || !from.After(t) {
				continue
			}
			seen[e.Name] = true
			byTime[from] = append(byTime[from], e.Name)
		}
	}
	var out []opening
	for _, at := range slices.SortedFunc(maps.Keys(byTime), time.Time.Compare) {
		envs := byTime[at]
		slices.Sort(envs)
		out = append(out, opening{at: at, envs: envs})
	}
	return out
}

// Openings says, for every environment of the revision scheduled at t,
// what its opening will do: the desired state at the opening compared
// with the one at t, restricted to it. Environments whose opening changes
// nothing are left out.
func (r *Revision) Openings(t time.Time) []Upcoming {
	now, err := r.At(t)
	var out []Upcoming
	for _, o := range openings(t, r) {
		then, perr := r.At(o.at)
		if err == nil {
			err = perr
		}
		out = append(out, restrict(now, then, o, err)...)
	}
	return out
}

// UpcomingChanges says what head changes, compared with base, in the
// environments of either that are scheduled at t: both revisions are
// placed at each such environment's opening and compared there,
// restricted to it. Without it, a change to next term's course compares
// as "no differences" until the term starts. base may be nil (a first
// commit). Environments the two revisions agree on are left out.
func UpcomingChanges(base, head *Revision, t time.Time) []Upcoming {
	var out []Upcoming
	for _, o := range openings(t, head, base) {
		var b *place.Desired
		var err error
		if base != nil {
			b, err = base.At(o.at)
		}
		h, herr := head.At(o.at)
		if err == nil {
			err = herr
		}
		out = append(out, restrict(b, h, o, err)...)
	}
	return out
}

// restrict compares base and head for each environment opening at o.
func restrict(base, head *place.Desired, o opening, err error) []Upcoming {
	var out []Upcoming
	if err != nil {
		for _, env := range o.envs {
			out = append(out, Upcoming{Env: env, Opens: o.at, Diff: compare.Diff{}, Error: err.Error()})
		}
		return out
	}
	d := compare.Compare(base, head)
	for _, env := range o.envs {
		if ed := d.ForEnv(env); !ed.Empty() {
			out = append(out, Upcoming{Env: env, Opens: o.at, Diff: ed})
		}
	}
	return out
}

// Summary says what the opening does in a few words: "containers +40;
// volumes +40", with the containers named when there are few.
func (u Upcoming) Summary() string {
	if u.Error != "" {
		return "cannot be placed: " + u.Error
	}
	s := u.Diff.Counts().Short()
	var named []string
	for _, h := range u.Diff.Hosts {
		for _, c := range h.Changes {
			if c.Kind == change.KindContainer {
				named = append(named, fmt.Sprintf("%s %s on %s", symbol(c.Action), c.Name, h.Host))
			}
		}
	}
	if len(named) > 0 && len(named) <= 3 {
		s += " (" + strings.Join(named, ", ") + ")"
	}
	if s == "" {
		s = u.Diff.Counts().String()
	}
	return s
}

// symbol marks an action in a summary as plan text does.
func symbol(a change.Action) string {
	switch a {
	case change.Create:
		return "+"
	case change.Delete:
		return "-"
	case change.Replace:
		return "±"
	}
	return "~"
}

// NoteUpcoming records each upcoming change in d as a field of its
// environment's entry ("when it opens 2027-09-01: containers +1"), adding
// the entry when d has none, so every view of d shows it and d is no
// longer empty. Counts computed from d before are stale.
func NoteUpcoming(d *compare.Diff, ups []Upcoming) {
	for _, u := range ups {
		f := change.Field{Name: "when it opens " + when(u.Opens), Detail: u.Summary()}
		i := slices.IndexFunc(d.Environments, func(c compare.Change) bool { return c.Name == u.Env })
		if i < 0 {
			i, _ = slices.BinarySearchFunc(d.Environments, u.Env, func(c compare.Change, name string) int { return strings.Compare(c.Name, name) })
			d.Environments = slices.Insert(d.Environments, i, compare.Change{
				Ref: change.Ref{Kind: change.KindEnvironment, Name: u.Env, Env: u.Env}, Action: change.Update})
		}
		d.Environments[i].Fields = append(d.Environments[i].Fields, f)
	}
}

// On keeps, of each upcoming change, what happens on the connected hosts
// (a command limited with --hosts); one that leaves them untouched is
// dropped. Changes that could not be computed are kept.
func (h *Hosts) On(ups []Upcoming) []Upcoming {
	var out []Upcoming
	for _, u := range ups {
		if u.Error != "" {
			out = append(out, u)
			continue
		}
		var kept []compare.HostDiff
		for _, hd := range u.Diff.Hosts {
			if _, ok := h.Drivers[hd.Host]; ok {
				kept = append(kept, hd)
			}
		}
		if len(kept) > 0 {
			u.Diff.Hosts = kept
			out = append(out, u)
		}
	}
	return out
}
