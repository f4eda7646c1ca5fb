package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/rensei-dev/rensei/reconcile/source"
)

// DefaultBranch is the status branch's default name.
const DefaultBranch = "rensei/status"

// Publisher writes one daemon's reports to the status branch of a remote.
// It remembers what the branch holds for its hosts, so a pass whose
// reports did not change costs nothing (no fetch, no commit). Publish is
// safe for concurrent use; other daemons may write the same branch.
type Publisher struct {
	Remote *source.Remote
	Branch string // default DefaultBranch
	Log    *slog.Logger
	// Author signs the commits (default "rensei daemon <rensei@localhost>").
	Author object.Signature
	// Attempts bounds the pushes of one Publish (default 10); Backoff is the
	// first wait after a rejected push (default 50ms), doubled each time up
	// to 2s, with jitter so that racing writers spread out.
	Attempts int
	Backoff  time.Duration
	// Fetched, when set, is told the duration and error of every fetch.
	Fetched func(time.Duration, error)

	mu      sync.Mutex
	last    map[string]Report // what the branch holds, by "site/host"
	fetched bool
	commits atomic.Int64
}

// Commits counts the commits this publisher pushed.
func (p *Publisher) Commits() int64 { return p.commits.Load() }

func (p *Publisher) defaults() {
	if p.Branch == "" {
		p.Branch = DefaultBranch
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.Author.Name == "" {
		p.Author = object.Signature{Name: "rensei daemon", Email: "rensei@localhost"}
	}
	if p.Attempts <= 0 {
		p.Attempts = 10
	}
	if p.Backoff <= 0 {
		p.Backoff = 50 * time.Millisecond
	}
	if p.last == nil {
		p.last = map[string]Report{}
	}
}

// Pending returns the reports that would be written: those whose content
// differs from what this publisher last saw on the branch. It does no I/O.
func (p *Publisher) Pending(reports []Report) []Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.defaults()
	return p.pending(reports)
}

func (p *Publisher) pending(reports []Report) []Report {
	var out []Report
	for _, r := range reports {
		if prev, ok := p.last[r.Key()]; ok && !r.Supersedes(&prev) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// Publish writes the reports that changed as one commit on the status
// branch and pushes it. A rejected push (another writer moved the branch)
// is retried on the new tip: fetch, rewrite only these reports' files,
// push; bounded, with jittered backoff. It returns how many reports were
// written. Reports equal to what the branch already holds are not written.
func (p *Publisher) Publish(ctx context.Context, reports []Report) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.defaults()
	changed := p.pending(reports)
	if len(changed) == 0 {
		return 0, nil
	}
	var written int
	err := p.Remote.Locked(func(cache *git.Repository) error {
		if !p.fetched {
			if err := p.fetch(ctx); err != nil {
				return err
			}
			p.fetched = true
		}
		wait := p.Backoff
		for attempt := 1; ; attempt++ {
			n, err := p.attempt(ctx, cache, changed)
			if err == nil {
				written = n
				return nil
			}
			if !errors.Is(err, source.ErrPushRejected) {
				return err
			}
			if attempt >= p.Attempts {
				return fmt.Errorf("status branch %s: gave up after %d rejected pushes: %w", p.Branch, attempt, err)
			}
			p.Log.Debug("status branch moved, rebuilding on the new tip", "attempt", attempt)
			jitter := time.Duration(rand.Int64N(int64(wait)))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait/2 + jitter):
			}
			wait = min(2*wait, 2*time.Second)
			if err := p.fetch(ctx); err != nil {
				return err
			}
		}
	})
	return written, err
}

// fetch brings the status branch into the cache; a branch that does not
// exist yet is not an error.
func (p *Publisher) fetch(ctx context.Context) error {
	start := time.Now()
	_, err := p.Remote.FetchLocked(ctx, p.Branch)
	if errors.Is(err, source.ErrNoBranch) {
		err = nil
	}
	if p.Fetched != nil {
		p.Fetched(time.Since(start), err)
	}
	return err
}

// attempt builds one commit on the cached tip and pushes it.
func (p *Publisher) attempt(ctx context.Context, cache *git.Repository, changed []Report) (int, error) {
	s := cache.Storer
	tip := source.TrackedLocked(cache, p.Branch)
	tree := plumbing.ZeroHash
	if !tip.IsZero() {
		c, err := object.GetCommit(s, tip)
		if err != nil {
			return 0, fmt.Errorf("status branch %s: tip %s: %w", p.Branch, tip, err)
		}
		tree = c.TreeHash
	}
	files := map[string][]byte{}
	var write []Report
	for _, r := range changed {
		jsonPath, textPath := Paths(r.Site, r.Host)
		cur, err := readBlob(s, tree, jsonPath)
		if err != nil {
			return 0, fmt.Errorf("status branch %s: %s: %w", p.Branch, jsonPath, err)
		}
		if cur != nil {
			if prev, err := decode(cur); err == nil && !r.Supersedes(&prev) {
				p.last[r.Key()] = prev // already there (an earlier life of this daemon)
				continue
			}
		}
		files[jsonPath] = r.JSON()
		files[textPath] = []byte(r.Text())
		write = append(write, r)
	}
	if len(write) == 0 {
		return 0, nil
	}
	newTree, err := setFiles(s, tree, files)
	if err != nil {
		return 0, fmt.Errorf("status branch %s: tree: %w", p.Branch, err)
	}
	sig := p.Author
	sig.When = time.Now()
	c := &object.Commit{Author: sig, Committer: sig, Message: Message(write), TreeHash: newTree}
	if !tip.IsZero() {
		c.ParentHashes = []plumbing.Hash{tip}
	}
	h, err := writeCommit(s, c)
	if err != nil {
		return 0, fmt.Errorf("status branch %s: commit: %w", p.Branch, err)
	}
	if err := p.Remote.PushLocked(ctx, p.Branch, h, tip); err != nil {
		return 0, err
	}
	for _, r := range write {
		p.last[r.Key()] = r
	}
	p.commits.Add(1)
	p.Log.Info("report committed", "commit", h.String(), "reports", len(write))
	return len(write), nil
}

func decode(b []byte) (Report, error) {
	var r Report
	err := json.Unmarshal(b, &r)
	return r, err
}

// Read returns every report in the tree of commit (the status branch's
// tip), sorted by site and host.
func Read(s storer.EncodedObjectStorer, commit plumbing.Hash) ([]Report, error) {
	c, err := object.GetCommit(s, commit)
	if err != nil {
		return nil, fmt.Errorf("status commit %s: %w", commit, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	reports, err := tree.Tree("reports")
	if err != nil {
		return nil, nil // no report yet
	}
	var out []Report
	err = reports.Files().ForEach(func(f *object.File) error {
		if f.Mode != filemode.Regular || !strings.HasSuffix(f.Name, ".json") {
			return nil
		}
		text, err := f.Contents()
		if err != nil {
			return err
		}
		r, err := decode([]byte(text))
		if err != nil {
			return fmt.Errorf("reports/%s: %w", f.Name, err)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// LastEnforced returns the config commit that the newest reports of hosts
// (all hosts when empty) say was enforced, or "" when there is none: a
// restarted daemon whose head is refused enforces that commit again.
func (p *Publisher) LastEnforced(ctx context.Context, hosts []string) (string, error) {
	p.defaults()
	tip, err := p.Remote.Fetch(ctx, p.Branch)
	if errors.Is(err, source.ErrNoBranch) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var reports []Report
	err = p.Remote.Locked(func(cache *git.Repository) error {
		var rerr error
		reports, rerr = Read(cache.Storer, tip)
		return rerr
	})
	if err != nil {
		return "", err
	}
	var newest Report
	for _, r := range reports {
		if r.Commit == "" || (len(hosts) > 0 && !slices.Contains(hosts, r.Key()) && !slices.Contains(hosts, r.Host)) {
			continue
		}
		if r.Time.After(newest.Time) {
			newest = r
		}
	}
	return newest.Commit, nil
}
