// Package gitrepo holds all of Rensei's Git: revisions of a config
// repository read straight from tree objects as file systems (no checkout,
// no work tree), the history of a branch, signature verification, a remote
// with its bare cache (ref checks, fetches), and a branch updated by
// compare-and-swap with bounded retry (the status branch). No other package
// imports go-git. go-git is not safe for concurrent use: a Remote takes
// turns itself; a Repo is for one goroutine.
package gitrepo

import (
	"errors"
	"fmt"
	"time"

	"io/fs"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrNotFound: no such revision or branch in the repository.
var ErrNotFound = errors.New("not found")

// Repo is a Git repository on disk: a work tree or a bare repository.
type Repo struct {
	r   *git.Repository
	dir string
}

// Open opens the repository at dir (a bare repository, or a work tree or
// any directory inside one).
func Open(dir string) (*Repo, error) {
	if r, err := git.PlainOpen(dir); err == nil {
		return &Repo{r: r, dir: dir}, nil
	}
	r, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil, fmt.Errorf("git repository %s: %w", dir, err)
	}
	return &Repo{r: r, dir: dir}, nil
}

// Commit is what Rensei reads of a commit object.
type Commit struct {
	Hash       string    `json:"hash"`
	Author     string    `json:"author"`
	Email      string    `json:"email"`
	AuthorTime time.Time `json:"authorTime"`
	Committer  string    `json:"committer"`
	CommitTime time.Time `json:"commitTime"`
	Message    string    `json:"message"`
	Parents    []string  `json:"parents,omitempty"`
	// Signed: the commit carries a signature (OpenPGP or other).
	Signed bool `json:"signed,omitempty"`
	// PGP: the signature is an armored OpenPGP one (Verify can check it).
	PGP bool `json:"-"`
}

func commitOf(c *object.Commit) Commit {
	out := Commit{Hash: c.Hash.String(), Author: c.Author.Name, Email: c.Author.Email, AuthorTime: c.Author.When,
		Committer: c.Committer.Name, CommitTime: c.Committer.When, Message: c.Message,
		Signed: c.PGPSignature != "", PGP: c.PGPSignature != "" && containsPGP(c.PGPSignature)}
	for _, p := range c.ParentHashes {
		out.Parents = append(out.Parents, p.String())
	}
	return out
}

// Revision is one resolved commit and its tree as a file system.
type Revision struct {
	Commit Commit
	FS     fs.FS

	obj *object.Commit
}

// SHA is the commit's full hash.
func (r Revision) SHA() string { return r.Commit.Hash }

// Resolve resolves rev (a branch, tag, commit hash or expression such as
// HEAD~1; remote-tracking branches of origin too, for bare mirrors and
// fresh clones) and returns its commit and tree. A revision that does not
// exist is an error naming it that wraps ErrNotFound.
func (r *Repo) Resolve(rev string) (Revision, error) {
	return resolve(r.r, rev)
}

func resolve(repo *git.Repository, rev string) (Revision, error) {
	hash, err := repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		if h, err2 := repo.ResolveRevision(plumbing.Revision("refs/remotes/origin/" + rev)); err2 == nil {
			hash, err = h, nil
		}
	}
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		return Revision{}, fmt.Errorf("revision %q: %w", rev, ErrNotFound)
	case err != nil:
		return Revision{}, fmt.Errorf("revision %q: %w: %v", rev, ErrNotFound, err)
	}
	c, err := repo.CommitObject(*hash)
	if err != nil {
		return Revision{}, fmt.Errorf("revision %q: commit %s: %w", rev, hash, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return Revision{}, fmt.Errorf("revision %q: tree: %w", rev, err)
	}
	return Revision{Commit: commitOf(c), FS: &treeFS{root: tree, when: c.Committer.When}, obj: c}, nil
}

// Log lists the commits reachable from rev, newest first by committer
// time, or only along first parents (as git log --first-parent).
func (r *Repo) Log(rev string, firstParent bool) ([]Commit, error) {
	tip, err := r.Resolve(rev)
	if err != nil {
		return nil, err
	}
	var out []Commit
	if firstParent {
		for c := tip.obj; c != nil; {
			out = append(out, commitOf(c))
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
	iter, err := r.r.Log(&git.LogOptions{From: tip.obj.Hash, Order: git.LogOrderCommitterTime})
	if err != nil {
		return nil, err
	}
	err = iter.ForEach(func(c *object.Commit) error {
		out = append(out, commitOf(c))
		return nil
	})
	return out, err
}

// TreeKey identifies the content of the given top-level directories of a
// commit: equal keys mean equal files there, so an evaluation of one
// commit serves every commit with the same key.
func (r *Repo) TreeKey(commit string, dirs []string) (string, error) {
	c, err := r.r.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", Short(commit), err)
	}
	tree, err := c.Tree()
	if err != nil {
		return "", fmt.Errorf("commit %s: tree: %w", Short(commit), err)
	}
	key := ""
	for _, d := range dirs {
		if e, err := tree.FindEntry(d); err == nil {
			key += e.Hash.String()
		}
		key += "/"
	}
	return key, nil
}

// Root returns the first commit of the revision's history along first
// parents: it never changes as commits are added, so it identifies the
// repository (every clone agrees on it).
func (r Revision) Root() (string, error) {
	c := r.obj
	for c.NumParents() > 0 {
		p, err := c.Parent(0)
		if err != nil {
			return "", fmt.Errorf("commit %s: parent: %w", Short(c.Hash.String()), err)
		}
		c = p
	}
	return c.Hash.String(), nil
}

// WorkTree returns the top of the work tree holding dir, or "" when dir is
// not in a Git work tree.
func WorkTree(dir string) string {
	r, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return ""
	}
	wt, err := r.Worktree()
	if err != nil {
		return ""
	}
	return wt.Filesystem.Root()
}
