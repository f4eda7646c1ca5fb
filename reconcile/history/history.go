// Package history builds the audit trail of a config repository: the
// commits that changed what an environment wants (author, date, signature
// status, message, and what changed in the desired topology against the
// parent), interleaved by time with the drift reports the daemon commits
// to the status branch and with the opening and closing of active
// windows. It is the Git log (package gitrepo), the comparison of each
// commit with its parent (package compare), the report versions (package
// status) and the window boundaries (package engine), put in time order.
// It evaluates each distinct configuration once.
package history

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/reconcile/compare"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/schema"
)

// Options select what the timeline shows. The zero value is usable.
type Options struct {
	// Ref is the config revision whose history is read; default HEAD.
	Ref string
	// Env keeps only what concerns this environment; empty keeps all.
	Env string
	// Since drops entries before this time; zero keeps all.
	Since time.Time
	// StatusBranch holds the drift reports; default status.DefaultBranch.
	StatusBranch string
	// Keyring is an armored OpenPGP public keyring. When set, signed
	// commits are verified against it ("verified" or "unverified").
	Keyring string
	// FirstParent follows only the first parent of merges, as
	// `git log --first-parent`: the changes as they landed on the branch.
	FirstParent bool
	// Load tunes Jsonnet evaluation.
	Load schema.Options
	// Scope is the deployment scope placed with (io.rensei.scope).
	Scope string
	// Now is the present, for window events; default time.Now.
	Now time.Time
}

// Signature states of a commit.
const (
	Unsigned   = "unsigned"
	Signed     = "signed"     // signed; not checked (no keyring, or not OpenPGP)
	Verified   = "verified"   // good OpenPGP signature by a key of the keyring
	Unverified = "unverified" // signed, but not by a key of the keyring, or bad
)

// Timeline is the audit trail, oldest entry first.
type Timeline struct {
	Ref  string `json:"ref"`
	Head string `json:"head"` // the commit Ref resolved to
	Env  string `json:"env,omitempty"`
	// StatusBranch is the branch read for reports; StatusFound says
	// whether it exists yet.
	StatusBranch string   `json:"statusBranch"`
	StatusFound  bool     `json:"statusFound"`
	Notes        []string `json:"notes,omitempty"`
	Entries      []Entry  `json:"entries"`
}

// Entry kinds.
const (
	KindCommit = "commit"
	KindReport = "report"
	KindWindow = "window"
)

// Entry is one event: a config commit, a drift report or a window bound.
type Entry struct {
	Time   time.Time       `json:"time"`
	Kind   string          `json:"kind"` // KindCommit, KindReport or KindWindow
	Commit *Commit         `json:"commit,omitempty"`
	Report *status.Version `json:"report,omitempty"`
	Window *Window         `json:"window,omitempty"`
}

// Commit is a config commit and what it changed.
type Commit struct {
	gitrepo.Commit
	// Signature is Unsigned, Signed, Verified or Unverified.
	Signature string `json:"signature"`
	// SignedBy names the verifying key: "Name <email> (key ID)".
	SignedBy string `json:"signedBy,omitempty"`
	// SignatureError says why a signature did not verify.
	SignatureError string `json:"signatureError,omitempty"`
	Merge          bool   `json:"merge,omitempty"`
	// Envs are the environments whose desired state it changed.
	Envs []string `json:"envs"`
	// Diff is what changed against the first parent's configuration (the
	// last valid one before it), placed at the commit's time; restricted to
	// Options.Env when set. Nil when the commit itself has problems.
	Diff *compare.Diff `json:"diff,omitempty"`
	// Upcoming is what it changes in environments whose window had not
	// opened at its time, at their opening; each is also a field of the
	// environment's entry in Diff.
	Upcoming []engine.Upcoming `json:"upcoming,omitempty"`
	// Problems: the commit's configuration is invalid; the daemon applies
	// nothing until a later commit fixes it.
	Problems schema.Problems `json:"problems,omitempty"`
	// Error: the configuration could not be evaluated for another reason.
	Error string `json:"error,omitempty"`
}

// Subject is the first line of the message.
func (c *Commit) Subject() string {
	s, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return s
}

// Window is an environment's active window opening or closing.
type Window struct {
	Env   string `json:"env"`
	Event string `json:"event"` // "opens" or "closes"
}

// Window events.
const (
	Opens  = "opens"
	Closes = "closes"
)

// Build reads the history of opts.Ref and the status branch of repo.
// A missing Ref is an error naming it; a missing status branch is a note,
// not an error.
func Build(repo *gitrepo.Repo, opts Options) (*Timeline, error) {
	if opts.Ref == "" {
		opts.Ref = "HEAD"
	}
	if opts.StatusBranch == "" {
		opts.StatusBranch = status.DefaultBranch
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now().UTC()
	}
	tip, err := repo.Resolve(opts.Ref)
	if err != nil {
		return nil, err
	}
	tl := &Timeline{Ref: opts.Ref, Head: tip.SHA(), Env: opts.Env, StatusBranch: opts.StatusBranch, Entries: []Entry{}}
	ev := newEvaluator(repo, opts)
	commits, err := repo.Log(opts.Ref, opts.FirstParent)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", opts.Ref, err)
	}
	byHash := map[string]gitrepo.Commit{}
	for _, c := range commits {
		byHash[c.Hash] = c
	}
	ev.commits = byHash
	listed := map[string]bool{}
	seenEnv := opts.Env == ""
	// Oldest first, so commits of the same second keep their order.
	slices.Reverse(commits)
	for _, c := range commits {
		if c.CommitTime.Before(opts.Since) {
			continue
		}
		e, err := ev.describe(c)
		if err != nil {
			return nil, err
		}
		if slices.Contains(e.Envs, opts.Env) {
			seenEnv = true
		}
		if opts.Env != "" && e.Diff != nil {
			d := e.Diff.ForEnv(opts.Env)
			e.Diff = &d
			e.Upcoming = slices.DeleteFunc(e.Upcoming, func(u engine.Upcoming) bool { return u.Env != opts.Env })
		}
		if e.Diff != nil && e.Diff.Empty() {
			continue
		}
		listed[e.Hash] = true
		tl.Entries = append(tl.Entries, Entry{Time: c.CommitTime, Kind: KindCommit, Commit: e})
	}
	windows, ok := ev.windows(tip.SHA())
	if ok {
		for _, w := range windows {
			if opts.Env != "" && w.Window.Env != opts.Env {
				continue
			}
			if opts.Env != "" {
				seenEnv = true
			}
			if !w.Time.Before(opts.Since) {
				tl.Entries = append(tl.Entries, w)
			}
		}
	}
	if !seenEnv {
		tl.Notes = append(tl.Notes, fmt.Sprintf("no commit of %s changed environment %q", opts.Ref, opts.Env))
	}
	reports, found, err := status.Versions(repo, opts.StatusBranch)
	if err != nil {
		return nil, err
	}
	tl.StatusFound = found
	if !found {
		tl.Notes = append(tl.Notes, "no status branch yet ("+opts.StatusBranch+"): the daemon has not reported")
	}
	for _, v := range reports {
		if v.Time.Before(opts.Since) {
			continue
		}
		if opts.Env != "" && (v.Report == nil || (!v.Report.Mentions(opts.Env) && !listed[v.Report.Commit])) {
			continue
		}
		tl.Entries = append(tl.Entries, Entry{Time: v.Time, Kind: KindReport, Report: &v})
	}
	sort.SliceStable(tl.Entries, func(i, j int) bool { return tl.Entries[i].Time.Before(tl.Entries[j].Time) })
	return tl, nil
}

// evaluation is one distinct configuration: its revision or its problems.
type evaluation struct {
	rev *engine.Revision
	err error
}

// evaluator evaluates commits, each distinct configuration once: commits
// whose sites/, environments/, lib/ and vendor/ trees are identical share
// one evaluation.
type evaluator struct {
	repo      *gitrepo.Repo
	opts      Options
	commits   map[string]gitrepo.Commit
	byConfig  map[string]*evaluation // config key → evaluation
	lastValid map[string]*gitrepo.Commit
}

func newEvaluator(repo *gitrepo.Repo, opts Options) *evaluator {
	return &evaluator{repo: repo, opts: opts, commits: map[string]gitrepo.Commit{},
		byConfig: map[string]*evaluation{}, lastValid: map[string]*gitrepo.Commit{}}
}

// configDirs are what a configuration is evaluated from.
var configDirs = []string{"sites", "environments", "lib", "vendor"}

// commit returns a commit's metadata, from the log when it was listed.
func (ev *evaluator) commit(hash string) (gitrepo.Commit, error) {
	if c, ok := ev.commits[hash]; ok {
		return c, nil
	}
	rev, err := ev.repo.Resolve(hash)
	if err != nil {
		return gitrepo.Commit{}, err
	}
	ev.commits[hash] = rev.Commit
	return rev.Commit, nil
}

func (ev *evaluator) eval(hash string) (*evaluation, error) {
	key, err := ev.repo.TreeKey(hash, configDirs)
	if err != nil {
		return nil, err
	}
	if e, ok := ev.byConfig[key]; ok {
		return e, nil
	}
	rev, err := ev.repo.Resolve(hash)
	if err != nil {
		return nil, err
	}
	src := engine.Source{Name: gitrepo.Short(hash), FS: rev.FS, Commit: hash}
	loaded, err := engine.Load(context.Background(), src, engine.InProcess{}, ev.opts.Load, ev.opts.Scope)
	e := &evaluation{rev: loaded, err: err}
	ev.byConfig[key] = e
	return e, nil
}

// place places an evaluation at a time, as commit; placement problems are
// returned as schema.Problems, as evaluation problems are.
func (ev *evaluator) place(e *evaluation, commit string, at time.Time) (*place.Desired, error) {
	if e.err != nil {
		return nil, e.err
	}
	return revision(e, commit).At(at)
}

// revision is an evaluation's revision as commit (nil when it has problems).
func revision(e *evaluation, commit string) *engine.Revision {
	if e.err != nil {
		return nil
	}
	r := *e.rev
	r.Source.Commit = commit
	return &r
}

// valid returns the newest commit along first parents from hash (itself
// included) whose configuration evaluates and places at its own time:
// what the daemon would be applying. Nil when there is none.
func (ev *evaluator) valid(hash string) (*gitrepo.Commit, error) {
	var walked []string
	var found *gitrepo.Commit
	for cur := hash; cur != ""; {
		if v, ok := ev.lastValid[cur]; ok {
			found = v
			break
		}
		walked = append(walked, cur)
		c, err := ev.commit(cur)
		if err != nil {
			return nil, err
		}
		e, err := ev.eval(cur)
		if err != nil {
			return nil, err
		}
		if _, err := ev.place(e, cur, c.CommitTime); err == nil {
			found = &c
			break
		}
		cur = ""
		if len(c.Parents) > 0 {
			cur = c.Parents[0]
		}
	}
	for _, h := range walked {
		ev.lastValid[h] = found
	}
	return found, nil
}

// describe describes one commit: who, when, signature, and what it changed.
func (ev *evaluator) describe(c gitrepo.Commit) (*Commit, error) {
	out := &Commit{Commit: c, Merge: len(c.Parents) > 1, Envs: []string{}}
	out.Message = strings.TrimRight(c.Message, "\n")
	ev.signature(c, out)
	at := c.CommitTime
	e, err := ev.eval(c.Hash)
	if err != nil {
		return nil, err
	}
	head, err := ev.place(e, out.Hash, at)
	var ps schema.Problems
	switch {
	case errors.As(err, &ps):
		out.Problems = ps
		return out, nil
	case err != nil:
		out.Error = err.Error()
		return out, nil
	}
	var base *place.Desired
	var baseRev *engine.Revision
	if len(c.Parents) > 0 {
		v, err := ev.valid(c.Parents[0])
		if err != nil {
			return nil, err
		}
		if v != nil {
			pe, err := ev.eval(v.Hash)
			if err != nil {
				return nil, err
			}
			// The parent is placed at this commit's time too, so windows
			// that opened or closed meanwhile are not blamed on the commit.
			base, err = ev.place(pe, v.Hash, at)
			if err != nil {
				return nil, fmt.Errorf("commit %s: place at %s: %w", gitrepo.Short(v.Hash), at.Format(time.RFC3339), err)
			}
			baseRev = revision(pe, v.Hash)
		}
	}
	d := compare.Compare(base, head)
	// A change to an environment whose window opens later is no change
	// at the commit's time; it shows at the opening, and the commit is
	// listed for it.
	out.Upcoming = engine.UpcomingChanges(baseRev, revision(e, out.Hash), at)
	engine.NoteUpcoming(&d, out.Upcoming)
	out.Diff = &d
	out.Envs = d.EnvNames()
	return out, nil
}

func (ev *evaluator) signature(c gitrepo.Commit, out *Commit) {
	switch {
	case !c.Signed:
		out.Signature = Unsigned
	case ev.opts.Keyring == "" || !c.PGP:
		out.Signature = Signed
	default:
		signer, err := ev.repo.Verify(c.Hash, ev.opts.Keyring)
		if err != nil {
			out.Signature, out.SignatureError = Unverified, err.Error()
			return
		}
		out.Signature, out.SignedBy = Verified, signer
	}
}

// windows lists when the environments of the last valid configuration
// from tip become active and are torn down.
func (ev *evaluator) windows(tip string) ([]Entry, bool) {
	v, err := ev.valid(tip)
	if err != nil || v == nil {
		return nil, false
	}
	e, err := ev.eval(v.Hash)
	if err != nil || e.err != nil {
		return nil, false
	}
	var out []Entry
	for _, w := range e.rev.Windows() {
		event := Closes
		if w.Opens {
			event = Opens
		}
		out = append(out, Entry{Time: w.Time, Kind: KindWindow, Window: &Window{Env: w.Env, Event: event}})
	}
	return out, true
}
