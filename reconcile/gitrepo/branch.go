package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Files is the tree of a branch's tip as an update sees it: Read returns
// what the tip holds (nil when the file is absent), Write replaces a file
// in the commit being made.
type Files struct {
	r      *Remote
	tree   plumbing.Hash
	writes map[string][]byte
}

// Read returns the content of the file at path (slash-separated) in the
// tip, or nil when there is none.
func (f *Files) Read(path string) ([]byte, error) {
	if b, ok := f.writes[path]; ok {
		return b, nil
	}
	return readBlob(f.r.cache.Storer, f.tree, path)
}

// Write sets the content of the file at path in the commit being made.
func (f *Files) Write(path string, content []byte) { f.writes[path] = content }

// Update tunes UpdateBranch.
type Update struct {
	// Author and Email sign the commit (default "rensei daemon <rensei@localhost>").
	Author, Email string
	// Fetch brings the branch into the cache before the first attempt;
	// without it the first attempt builds on what the cache last saw (a
	// stale tip is rejected by the remote and retried after a fetch).
	Fetch bool
	// Attempts bounds the pushes (default 10); Backoff is the first wait
	// after a rejected push (default 50ms), doubled each time up to 2s,
	// with jitter so that racing writers spread out.
	Attempts int
	Backoff  time.Duration
	// Fetched, when set, is told the duration and error of every fetch.
	Fetched func(time.Duration, error)
	Log     *slog.Logger
}

// UpdateBranch makes one commit on the remote's branch with the files fn
// writes, and pushes it with compare-and-swap: the push succeeds only if
// the branch still points at the tip fn saw. When another writer moved the
// branch, it fetches the new tip and calls fn again (bounded, with
// jittered backoff), so fn must decide from Files alone. fn returns the
// commit message; when it writes nothing, no commit is made and "" is
// returned. A branch that does not exist yet is created. It returns the
// commit pushed.
func (r *Remote) UpdateBranch(ctx context.Context, branch string, u Update, fn func(*Files) (string, error)) (string, error) {
	if u.Author == "" {
		u.Author, u.Email = "rensei daemon", "rensei@localhost"
	}
	if u.Attempts <= 0 {
		u.Attempts = 10
	}
	if u.Backoff <= 0 {
		u.Backoff = 50 * time.Millisecond
	}
	if u.Log == nil {
		u.Log = slog.New(slog.DiscardHandler)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fetch := func() error {
		start := time.Now()
		_, err := r.fetchLocked(ctx, branch)
		if errors.Is(err, ErrNoBranch) {
			err = nil
		}
		if u.Fetched != nil {
			u.Fetched(time.Since(start), err)
		}
		return err
	}
	if u.Fetch {
		if err := fetch(); err != nil {
			return "", err
		}
	}
	wait := u.Backoff
	for attempt := 1; ; attempt++ {
		h, err := r.attempt(ctx, branch, u, fn)
		if err == nil {
			return h, nil
		}
		if !errors.Is(err, ErrPushRejected) {
			return "", err
		}
		if attempt >= u.Attempts {
			return "", fmt.Errorf("branch %s: gave up after %d rejected pushes: %w", branch, attempt, err)
		}
		u.Log.Debug("branch moved, rebuilding on the new tip", "attempt", attempt)
		jitter := time.Duration(rand.Int64N(int64(wait)))
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait/2 + jitter):
		}
		wait = min(2*wait, 2*time.Second)
		if err := fetch(); err != nil {
			return "", err
		}
	}
}

// attempt builds one commit on the cached tip and pushes it. The caller holds r.mu.
func (r *Remote) attempt(ctx context.Context, branch string, u Update, fn func(*Files) (string, error)) (string, error) {
	// What the commit adds is recorded: only that is pushed.
	s := &recorder{EncodedObjectStorer: r.cache.Storer}
	tip := r.tracked(branch)
	tree := plumbing.ZeroHash
	if !tip.IsZero() {
		c, err := object.GetCommit(s, tip)
		if err != nil {
			return "", fmt.Errorf("branch %s: tip %s: %w", branch, tip, err)
		}
		tree = c.TreeHash
	}
	files := &Files{r: r, tree: tree, writes: map[string][]byte{}}
	msg, err := fn(files)
	if err != nil || len(files.writes) == 0 {
		return "", err
	}
	newTree, err := setFiles(s, tree, files.writes)
	if err != nil {
		return "", fmt.Errorf("branch %s: tree: %w", branch, err)
	}
	sig := object.Signature{Name: u.Author, Email: u.Email, When: time.Now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: newTree}
	if !tip.IsZero() {
		c.ParentHashes = []plumbing.Hash{tip}
	}
	h, err := writeCommit(s, c)
	if err != nil {
		return "", fmt.Errorf("branch %s: commit: %w", branch, err)
	}
	if err := r.pushObjects(ctx, branch, h, tip, s.written); err != nil {
		return "", err
	}
	return h.String(), nil
}

// recorder is a storer that notes the objects written through it.
type recorder struct {
	storer.EncodedObjectStorer
	written []plumbing.Hash
}

func (r *recorder) SetEncodedObject(o plumbing.EncodedObject) (plumbing.Hash, error) {
	h, err := r.EncodedObjectStorer.SetEncodedObject(o)
	if err == nil {
		r.written = append(r.written, h)
	}
	return h, err
}

// ReadBranch fetches the remote's branch and returns its tip's commit and
// tree. A branch that does not exist is ErrNoBranch.
func (r *Remote) ReadBranch(ctx context.Context, branch string) (Revision, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tip, err := r.fetchLocked(ctx, branch)
	if err != nil {
		return Revision{}, err
	}
	rev, err := resolve(r.cache, tip.String())
	if err != nil {
		return Revision{}, fmt.Errorf("remote %s: %w", r.name, err)
	}
	return rev, nil
}
