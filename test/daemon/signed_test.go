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

// TestAdminSignsPolicyAndSites: with an admin key ring, a head that
// changes policy/ or sites/ must carry an admin's signature; tenants'
// signatures (the verify key ring) suffice for environments.
func TestAdminSignsPolicyAndSites(t *testing.T) {
	admin, admins := pgpkey.New(t, "it-services")
	lecturer, lecturers := pgpkey.New(t, "lecturer")
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	first := repo.pushSigned(t, admin, "sites, by IT", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("ann")})
	d := newDaemon(t, repo, fleet, func(c *daemon.Config) {
		c.Keyring = admins + "\n" + lecturers
		c.AdminKeyring = admins
		c.Hosts = []string{"site-a/docker", "site-b/docker", "site-c/docker"}
	})
	ctx := context.Background()
	d.Pass(ctx)
	course2 := repo.pushSigned(t, lecturer, "add bob, by the lecturer", map[string]string{"environments/course.jsonnet": course("ann", "bob")})
	d.Pass(ctx)
	if got := fleet.containers(t); len(got) != 2 {
		t.Fatalf("a lecturer's change of an environment was not applied: %v", got)
	}
	sneaky := repo.pushSigned(t, lecturer, "widen the sites, by the lecturer", map[string]string{
		"sites/lab.jsonnet": fakeSites + "// the lecturer edits IT's file\n", "environments/course.jsonnet": course("ann", "bob", "cho")})
	d.Pass(ctx)
	if got := fleet.containers(t); len(got) != 2 {
		t.Fatalf("a lecturer's change of sites/ was applied: %v", got)
	}
	for host, r := range repo.reports() {
		if r.Commit != course2 || r.Refused == nil || r.Refused.Commit != sneaky || !strings.Contains(r.Refused.Reason, "only an admin key may sign") {
			t.Fatalf("%s: the lecturer's change of sites/ is not refused as such: %+v", host, r)
		}
	}
	_ = first
}
