package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/schema"
)

// Source is one revision of a config repository to load: a directory, a
// commit of a Git repository, or an embedded tree.
type Source struct {
	// Name is what messages call it: a path, "path@ref", a commit.
	Name string
	// FS is the repository's tree.
	FS fs.FS
	// Commit is the revision's commit, "" for a directory.
	Commit string
	// GitDir is the repository holding Commit, for an evaluator that reads
	// it in another process; "" when the tree is only reachable as FS.
	GitDir string
	// Dir is the directory of a directory source, for the same purpose.
	Dir string
	// Origin is the deployment scope derived from where the source comes
	// from (see Origin), used when the policy declares no deployment.
	Origin string
}

// Revision is a loaded, valid revision: its topology, ready to be placed
// at any time without evaluating Jsonnet again.
type Revision struct {
	Source   Source
	Topology *schema.Topology
	Scope    string
	// Secrets, when set, seals every placement (see Secrets.Seal).
	Secrets *Secrets
}

// SHA is the revision's commit, "" for a directory.
func (r *Revision) SHA() string { return r.Source.Commit }

// Load evaluates and validates src through ev (InProcess when nil) and
// settles its deployment scope: the policy's deployment, else scope (the
// one asked for), else the source's origin. A configuration problem is
// returned as schema.Problems, each with file and line.
func Load(ctx context.Context, src Source, ev Evaluator, opts schema.Options, scope string) (*Revision, error) {
	if ev == nil {
		ev = InProcess{}
	}
	topo, err := ev.Evaluate(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	declared := ""
	if topo.Policy != nil {
		declared = topo.Policy.Deployment
	}
	s, err := deploymentScope(declared, scope, src.Origin)
	if err != nil {
		return nil, err
	}
	return &Revision{Source: src, Topology: topo, Scope: s}, nil
}

// At places the revision at time t: the desired state of every host.
// Placement problems (capacity, conflicts) are schema.Problems.
func (r *Revision) At(t time.Time) (*place.Desired, error) { return r.AtPinned(t, place.Pins{}) }

// AtPinned is At with instances kept on the hosts holding their data.
func (r *Revision) AtPinned(t time.Time, pins place.Pins) (*place.Desired, error) {
	want, err := place.Place(r.Topology, place.Options{Commit: r.Source.Commit, Now: t, Scope: r.Scope, Pins: pins})
	if err == nil && r.Secrets != nil {
		err = r.Secrets.Seal(want)
	}
	if err != nil {
		return nil, err
	}
	return want, nil
}

// Window is an environment's active window opening or closing.
type Window struct {
	Env   string    `json:"env"`
	Time  time.Time `json:"time"`
	Opens bool      `json:"opens"` // false: it closes
}

// Windows lists every opening and closing of an environment's active
// window, in time order (then by environment).
func (r *Revision) Windows() []Window {
	var out []Window
	for _, e := range r.Topology.Environments {
		from, until := e.Active.Bounds()
		if !from.IsZero() {
			out = append(out, Window{Env: e.Name, Time: from, Opens: true})
		}
		if !until.IsZero() {
			out = append(out, Window{Env: e.Name, Time: until})
		}
	}
	slices.SortStableFunc(out, func(a, b Window) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if a.Env < b.Env {
			return -1
		}
		if a.Env > b.Env {
			return 1
		}
		return 0
	})
	return out
}

// NextBoundary is the first moment after t at which an environment's
// window opens or closes, capped at t + limit: when the desired state
// must be placed again.
func (r *Revision) NextBoundary(t time.Time, limit time.Duration) time.Time {
	next := t.Add(limit)
	for _, w := range r.Windows() {
		if w.Time.After(t) && w.Time.Before(next) {
			next = w.Time
			break
		}
	}
	return next
}

// maxOpenings bounds how many future window openings Check places at.
const maxOpenings = 32

// Check places the revision at t and again at every later moment an
// environment's window opens, so a semester scheduled for next term cannot
// break the repository when it starts. It returns the desired state at t,
// or the problems, those found only later saying when.
func (r *Revision) Check(t time.Time) (*place.Desired, error) {
	// Placement alone: checking needs no secret (nor the machine holding them).
	r = &Revision{Source: r.Source, Topology: r.Topology, Scope: r.Scope}
	want, err := r.At(t)
	if err != nil {
		return nil, err
	}
	var problems schema.Problems
	seen := map[string]bool{}
	checked := 0
	for _, w := range r.Windows() {
		if !w.Opens || !w.Time.After(t) || checked == maxOpenings || seen["@"+w.Time.String()] {
			continue
		}
		seen["@"+w.Time.String()] = true
		checked++
		_, err := r.At(w.Time)
		var ps schema.Problems
		if !errors.As(err, &ps) {
			continue
		}
		for _, p := range ps {
			if !seen[p.Msg] {
				seen[p.Msg] = true
				p.Msg = fmt.Sprintf("from %s, when a window opens: %s", w.Time.Format(time.DateOnly), p.Msg)
				problems = append(problems, p)
			}
		}
	}
	if len(problems) > 0 {
		return nil, problems.Err()
	}
	return want, nil
}
