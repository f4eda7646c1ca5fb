package daemon_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/rensei-dev/rensei/reconcile/daemon"
	"github.com/rensei-dev/rensei/test/pgpkey"
)

// pushSigned writes files, commits them signed by key and pushes.
func (r *configRepo) pushSigned(t *testing.T, key *openpgp.Entity, msg string, files map[string]string) string {
	t.Helper()
	h := r.CommitSigned(key, "test", "", msg, files)
	r.Git("push", "-q", "origin", "main")
	return h
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
