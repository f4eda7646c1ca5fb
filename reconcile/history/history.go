// Package history builds the audit trail of a config repository: the
// commits that changed what an environment wants (author, date, signature
// status, message, and what changed in the desired topology against the
// parent), interleaved by time with the drift reports the daemon commits
// to the status branch and with the opening and closing of active
// windows. It reads Git objects only, never a work tree, and evaluates
// each distinct configuration once.
package history

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/rensei-dev/rensei/reconcile/diff"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/source"
	"github.com/rensei-dev/rensei/schema"
)

// DefaultStatusBranch is where the daemon commits its drift reports.
const DefaultStatusBranch = "rensei/status"

// Options select what the timeline shows. The zero value is usable.
type Options struct {
	// Ref is the config revision whose history is read; default HEAD.
	Ref string
	// Env keeps only what concerns this environment; empty keeps all.
	Env string
	// Since drops entries before this time; zero keeps all.
	Since time.Time
	// StatusBranch holds the drift reports; default DefaultStatusBranch.
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

// Entry is one event: a config commit, a drift report or a window bound.
type Entry struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // "commit", "report" or "window"
	Commit *Commit   `json:"commit,omitempty"`
	Report *Report   `json:"report,omitempty"`
	Window *Window   `json:"window,omitempty"`
}

// Commit is a config commit and what it changed.
type Commit struct {
	Hash       string    `json:"hash"`
	Author     string    `json:"author"`
	Email      string    `json:"email"`
	AuthorTime time.Time `json:"authorTime"`
	Committer  string    `json:"committer"`
	// Signature is Unsigned, Signed, Verified or Unverified.
	Signature string `json:"signature"`
	// SignedBy names the verifying key: "Name <email> (key ID)".
	SignedBy string `json:"signedBy,omitempty"`
	// SignatureError says why a signature did not verify.
	SignatureError string `json:"signatureError,omitempty"`
	Message        string `json:"message"`
	Merge          bool   `json:"merge,omitempty"`
	// Envs are the environments whose desired state it changed.
	Envs []string `json:"envs"`
	// Diff is what changed against the first parent's configuration (the
	// last valid one before it), placed at the commit's time; restricted to
	// Options.Env when set. Nil when the commit itself has problems.
	Diff *diff.Diff `json:"diff,omitempty"`
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

// Build reads the history of opts.Ref and the status branch of repo.
// A missing Ref is an error naming it; a missing status branch is a note,
// not an error.
func Build(repo *git.Repository, opts Options) (*Timeline, error) {
	if opts.Ref == "" {
		opts.Ref = "HEAD"
	}
	if opts.StatusBranch == "" {
		opts.StatusBranch = DefaultStatusBranch
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now().UTC()
	}
	tip, err := source.Resolve(repo, opts.Ref)
	if err != nil {
		return nil, err
	}
	tl := &Timeline{Ref: opts.Ref, Head: tip.SHA(), Env: opts.Env, StatusBranch: opts.StatusBranch, Entries: []Entry{}}
	ev := newEvaluator(repo, opts)
	commits, err := ancestors(repo, tip.Commit, opts.FirstParent)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", opts.Ref, err)
	}
	listed := map[string]bool{}
	seenEnv := opts.Env == ""
	// Oldest first, so commits of the same second keep their order.
	slices.Reverse(commits)
	for _, c := range commits {
		if c.Committer.When.Before(opts.Since) {
			continue
		}
		e, err := ev.commit(c)
		if err != nil {
			return nil, err
		}
		if slices.Contains(e.Envs, opts.Env) {
			seenEnv = true
		}
		if opts.Env != "" && e.Diff != nil {
			d := e.Diff.ForEnv(opts.Env)
			e.Diff = &d
		}
		if e.Diff != nil && e.Diff.Empty() {
			continue
		}
		listed[e.Hash] = true
		tl.Entries = append(tl.Entries, Entry{Time: c.Committer.When, Kind: "commit", Commit: e})
	}
	windows, ok := ev.windows(tip.Commit)
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
	reports, found, err := readReports(repo, opts.StatusBranch)
	if err != nil {
		return nil, err
	}
	tl.StatusFound = found
	if !found {
		tl.Notes = append(tl.Notes, "no status branch yet ("+opts.StatusBranch+"): the daemon has not reported")
	}
	for _, r := range reports {
		if r.Time.Before(opts.Since) {
			continue
		}
		if opts.Env != "" && !r.Report.mentions(opts.Env) && !listedPrefix(listed, r.Report.Commit) {
			continue
		}
		tl.Entries = append(tl.Entries, r)
	}
	sort.SliceStable(tl.Entries, func(i, j int) bool { return tl.Entries[i].Time.Before(tl.Entries[j].Time) })
	return tl, nil
}

// listedPrefix reports whether commit (full or abbreviated) is listed.
func listedPrefix(listed map[string]bool, commit string) bool {
	if len(commit) < 7 {
		return false
	}
	for h := range listed {
		if strings.HasPrefix(h, commit) {
			return true
		}
	}
	return false
}

// ancestors lists the commits reachable from tip, newest first by
// committer time, or only along first parents.
func ancestors(repo *git.Repository, tip *object.Commit, firstParent bool) ([]*object.Commit, error) {
	var out []*object.Commit
	if firstParent {
		for c := tip; c != nil; {
			out = append(out, c)
			if c.NumParents() == 0 {
				break
			}
			p, err := c.Parent(0)
			if err != nil {
				return nil, fmt.Errorf("commit %s: parent: %w", c.Hash, err)
			}
			c = p
		}
		return out, nil
	}
	iter, err := repo.Log(&git.LogOptions{From: tip.Hash, Order: git.LogOrderCommitterTime})
	if err != nil {
		return nil, err
	}
	err = iter.ForEach(func(c *object.Commit) error {
		out = append(out, c)
		return nil
	})
	return out, err
}

// evaluation is one distinct configuration: its topology or its problems.
type evaluation struct {
	topo *schema.Topology
	err  error
}

// evaluator evaluates commits, each distinct configuration once: commits
// whose sites/, environments/, lib/ and vendor/ trees are identical share
// one evaluation.
type evaluator struct {
	repo      *git.Repository
	opts      Options
	byConfig  map[string]*evaluation // config key → evaluation
	lastValid map[plumbing.Hash]*object.Commit
}

func newEvaluator(repo *git.Repository, opts Options) *evaluator {
	return &evaluator{repo: repo, opts: opts, byConfig: map[string]*evaluation{}, lastValid: map[plumbing.Hash]*object.Commit{}}
}

// configDirs are what a configuration is evaluated from.
var configDirs = []string{"sites", "environments", "lib", "vendor"}

func (ev *evaluator) key(c *object.Commit) (string, error) {
	tree, err := c.Tree()
	if err != nil {
		return "", fmt.Errorf("commit %s: tree: %w", c.Hash, err)
	}
	var b strings.Builder
	for _, d := range configDirs {
		if e, err := tree.FindEntry(d); err == nil {
			b.WriteString(e.Hash.String())
		}
		b.WriteByte('/')
	}
	return b.String(), nil
}

func (ev *evaluator) eval(c *object.Commit) (*evaluation, error) {
	key, err := ev.key(c)
	if err != nil {
		return nil, err
	}
	if e, ok := ev.byConfig[key]; ok {
		return e, nil
	}
	rev, err := source.Resolve(ev.repo, c.Hash.String())
	if err != nil {
		return nil, err
	}
	topo, err := schema.Load(rev.FS, ev.opts.Load)
	e := &evaluation{topo: topo, err: err}
	ev.byConfig[key] = e
	return e, nil
}

// place places an evaluation at a time; placement problems are returned
// as schema.Problems, as Load's are.
func (ev *evaluator) place(e *evaluation, commit string, at time.Time) (*place.Desired, error) {
	if e.err != nil {
		return nil, e.err
	}
	return place.Place(e.topo, place.Options{Commit: commit, Now: at, Scope: ev.opts.Scope})
}

// valid returns the newest commit along first parents from c (c itself
// included) whose configuration evaluates and places at its own time:
// what the daemon would be applying. Nil when there is none.
func (ev *evaluator) valid(c *object.Commit) (*object.Commit, error) {
	var walked []plumbing.Hash
	var found *object.Commit
	for cur := c; cur != nil; {
		if v, ok := ev.lastValid[cur.Hash]; ok {
			found = v
			break
		}
		walked = append(walked, cur.Hash)
		e, err := ev.eval(cur)
		if err != nil {
			return nil, err
		}
		if _, err := ev.place(e, cur.Hash.String(), cur.Committer.When); err == nil {
			found = cur
			break
		}
		if cur.NumParents() == 0 {
			break
		}
		p, err := cur.Parent(0)
		if err != nil {
			return nil, fmt.Errorf("commit %s: parent: %w", cur.Hash, err)
		}
		cur = p
	}
	for _, h := range walked {
		ev.lastValid[h] = found
	}
	return found, nil
}

// commit describes one commit: who, when, signature, and what it changed.
func (ev *evaluator) commit(c *object.Commit) (*Commit, error) {
	out := &Commit{
		Hash: c.Hash.String(), Author: c.Author.Name, Email: c.Author.Email, AuthorTime: c.Author.When,
		Committer: c.Committer.Name, Message: strings.TrimRight(c.Message, "\n"), Merge: c.NumParents() > 1, Envs: []string{},
	}
	ev.signature(c, out)
	at := c.Committer.When
	e, err := ev.eval(c)
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
	if c.NumParents() > 0 {
		parent, err := c.Parent(0)
		if err != nil {
			return nil, fmt.Errorf("commit %s: parent: %w", c.Hash, err)
		}
		v, err := ev.valid(parent)
		if err != nil {
			return nil, err
		}
		if v != nil {
			pe, err := ev.eval(v)
			if err != nil {
				return nil, err
			}
			// The parent is placed at this commit's time too, so windows
			// that opened or closed meanwhile are not blamed on the commit.
			base, err = ev.place(pe, v.Hash.String(), at)
			if err != nil {
				return nil, fmt.Errorf("commit %s: place at %s: %w", v.Hash, at.Format(time.RFC3339), err)
			}
		}
	}
	d := diff.Compare(base, head)
	out.Diff = &d
	out.Envs = d.EnvNames()
	return out, nil
}

func (ev *evaluator) signature(c *object.Commit, out *Commit) {
	switch {
	case c.PGPSignature == "":
		out.Signature = Unsigned
	case ev.opts.Keyring == "" || !strings.Contains(c.PGPSignature, "BEGIN PGP SIGNATURE"):
		out.Signature = Signed
	default:
		ent, err := c.Verify(ev.opts.Keyring)
		if err != nil {
			out.Signature, out.SignatureError = Unverified, err.Error()
			return
		}
		out.Signature = Verified
		for name := range ent.Identities {
			out.SignedBy = name
			break
		}
		if ent.PrimaryKey != nil {
			out.SignedBy = strings.TrimSpace(out.SignedBy + " (key " + ent.PrimaryKey.KeyIdString() + ")")
		}
	}
}

// windows lists when the environments of tip's configuration (the last
// valid one) become active and are torn down.
func (ev *evaluator) windows(tip *object.Commit) ([]Entry, bool) {
	v, err := ev.valid(tip)
	if err != nil || v == nil {
		return nil, false
	}
	e, err := ev.eval(v)
	if err != nil {
		return nil, false
	}
	d, err := ev.place(e, v.Hash.String(), ev.opts.Now)
	if err != nil {
		return nil, false
	}
	var out []Entry
	for _, s := range d.Environments {
		if !s.From.IsZero() {
			out = append(out, Entry{Time: s.From, Kind: "window", Window: &Window{Env: s.Name, Event: "opens"}})
		}
		if !s.Until.IsZero() {
			out = append(out, Entry{Time: s.Until, Kind: "window", Window: &Window{Env: s.Name, Event: "closes"}})
		}
	}
	return out, true
}

// ReadKeyring reads an armored OpenPGP public keyring file.
func ReadKeyring(r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	if !strings.Contains(string(b), "BEGIN PGP PUBLIC KEY BLOCK") {
		return "", errors.New("not an armored OpenPGP public keyring (gpg --export --armor)")
	}
	return string(b), nil
}
