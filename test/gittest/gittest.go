// Package gittest builds Git repositories for tests with the git command
// line: a work tree written file by file and committed at fixed times by
// fixed authors, optionally signed with an OpenPGP key, and a bare remote
// it pushes to. It is the one repository builder every test uses. Tests
// only: it imports testing.
package gittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Repo is a work tree (Dir) on branch main, and, once Bare was called, a
// bare remote it pushes to.
type Repo struct {
	t testing.TB
	// Dir is the work tree.
	Dir string
	// BareDir is the bare remote ("" until Bare is called).
	BareDir string
	// Author commits unless a call names another (default "test").
	Author string
}

// New makes an empty repository on branch main in a temporary directory
// that is removed when the test ends. git is required (never a skip:
// every machine that builds Rensei has it).
func New(t testing.TB) *Repo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required")
	}
	r := &Repo{t: t, Dir: t.TempDir(), Author: "test"}
	r.Git("init", "-q", "-b", "main")
	return r
}

// Bare adds a bare remote "origin" and returns its directory; Push and
// Commit with push then update it.
func (r *Repo) Bare() string {
	r.t.Helper()
	if r.BareDir == "" {
		r.BareDir = filepath.Join(r.t.TempDir(), "config.git")
		r.Git("init", "-q", "--bare", "-b", "main", r.BareDir)
		r.Git("remote", "add", "origin", r.BareDir)
	}
	return r.BareDir
}

// Git runs git in the work tree as r.Author, now, and returns its output.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	return r.GitAs(r.Author, "", args...)
}

// GitAs runs git as who (name who, email who@example.edu) with author and
// committer dates when ("" for now).
func (r *Repo) GitAs(who, when string, args ...string) string {
	r.t.Helper()
	return run(r.t, r.Dir, who, when, args...)
}

// Run runs git in dir (any directory: a bare remote, a clone) as "test"
// and returns its output; a failure fails the test.
func Run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return run(t, dir, "test", "", args...)
}

func run(t testing.TB, dir, who, when string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=" + who, "-c", "user.email=" + who + "@example.edu", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if when != "" {
		cmd.Env = append(cmd.Env, "GIT_AUTHOR_DATE="+when, "GIT_COMMITTER_DATE="+when)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Write puts body at name (slash-separated) in the work tree; "" removes it.
func (r *Repo) Write(name, body string) {
	r.t.Helper()
	p := filepath.Join(r.Dir, filepath.FromSlash(name))
	if body == "" {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			r.t.Fatal(err)
		}
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// Commit writes files (name → body; "" removes), commits everything as
// r.Author now, and returns the commit.
func (r *Repo) Commit(msg string, files map[string]string) string {
	r.t.Helper()
	return r.CommitAs(r.Author, "", msg, files)
}

// CommitAs is Commit by who at when (RFC 3339, "" for now).
func (r *Repo) CommitAs(who, when, msg string, files map[string]string) string {
	r.t.Helper()
	for name, body := range files {
		r.Write(name, body)
	}
	r.GitAs(who, when, "add", "-A")
	r.GitAs(who, when, "commit", "-q", "--allow-empty", "-m", msg)
	return r.GitAs(who, when, "rev-parse", "HEAD")
}

// Push commits files as Commit does and pushes main to the bare remote.
func (r *Repo) Push(msg string, files map[string]string) string {
	r.t.Helper()
	r.Bare()
	h := r.Commit(msg, files)
	r.Git("push", "-q", "origin", "main")
	return h
}

// CommitSigned writes files and commits everything signed by key, as who
// at when ("" for now), with go-git (the git command would need gpg).
func (r *Repo) CommitSigned(key *openpgp.Entity, who, when, msg string, files map[string]string) string {
	r.t.Helper()
	for name, body := range files {
		r.Write(name, body)
	}
	repo, err := git.PlainOpen(r.Dir)
	if err != nil {
		r.t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		r.t.Fatal(err)
	}
	at := time.Now()
	if when != "" {
		if at, err = time.Parse(time.RFC3339, when); err != nil {
			r.t.Fatal(err)
		}
	}
	sig := &object.Signature{Name: who, Email: who + "@example.edu", When: at}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, SignKey: key, AllowEmptyCommits: true})
	if err != nil {
		r.t.Fatal(err)
	}
	return h.String()
}
