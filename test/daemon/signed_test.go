package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/rensei-dev/rensei/reconcile/daemon"
	"github.com/rensei-dev/rensei/test/pgpkey"
)

// pushSigned writes files, commits them with go-git signed by key and pushes.
func (r *configRepo) pushSigned(t *testing.T, key *openpgp.Entity, msg string, files map[string]string) string {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(r.work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repo, err := git.PlainOpen(r.work)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "lecturer", Email: "lecturer@example.edu", When: time.Now()}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, SignKey: key})
	if err != nil {
		t.Fatal(err)
	}
	r.git(r.work, "push", "-q", "origin", "main")
	return h.String()
}

// TestVerifiedHeads: with a keyring, a head signed by one of its keys is
// applied; a head signed by another key is refused and reported, and the
// trusted revision stays enforced.
func TestVerifiedHeads(t *testing.T) {
	trusted, keyring := pgpkey.New(t, "it-services")
	stranger, _ := pgpkey.New(t, "stranger")
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	good := repo.pushSigned(t, trusted, "init, signed", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("ann")})
	d := newDaemon(t, repo, fleet, func(c *daemon.Config) {
		c.Keyring = keyring
		c.Hosts = []string{"site-a/docker", "site-b/docker", "site-c/docker"}
	})
	ctx := context.Background()
	d.Pass(ctx)
	if got := fleet.containers(t); len(got) != 1 {
		t.Fatalf("signed head: containers %v, want one", got)
	}
	for _, r := range repo.reports() {
		if r.Commit != good || r.Refused != nil {
			t.Fatalf("signed head not enforced: %+v", r)
		}
	}

	bad := repo.pushSigned(t, stranger, "add bob, signed by a stranger", map[string]string{"environments/course.jsonnet": course("ann", "bob")})
	d.Pass(ctx)
	if got := fleet.containers(t); len(got) != 1 {
		t.Fatalf("an untrusted head was applied: %v", got)
	}
	for host, r := range repo.reports() {
		if r.Commit != good || r.Refused == nil || r.Refused.Commit != bad || !strings.Contains(strings.ToLower(r.Refused.Reason), "sign") {
			t.Fatalf("%s: the untrusted head is not reported as refused: %+v", host, r)
		}
	}
}
