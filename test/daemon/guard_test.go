package daemon_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/daemon"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/test/pgpkey"
)

// clock is a settable clock for the daemon.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// windowed is a course whose active window ends at until.
func windowed(name, until string, members ...string) string {
	return "{ name: '" + name + "', active: { until: '" + until + "' }, groups: [{ name: 'lab', image: 'rensei/busybox:latest', members: " +
		jsonList(members) + ", command: ['sleep', 'infinity'] }] }\n"
}

// heldReports counts the hosts whose report says commit is held awaiting what.
func heldReports(repo *configRepo, commit, what string) int {
	n := 0
	for _, r := range repo.reports() {
		if r.Refused != nil && r.Refused.Held && r.Refused.Commit == commit && r.Refused.Awaiting == what {
			n++
		}
	}
	return n
}

// TestGuardWindowClose: a window set to close soon passed review; when
// it closes, the daemon does not delete the course: the deletions wait for
// an approval, and the reports say so. Once approved (rensei approve),
// the next pass deletes.
func TestGuardWindowClose(t *testing.T) {
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	clk := &clock{now: time.Date(2027, 7, 31, 23, 50, 0, 0, time.UTC)}
	c1 := repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites,
		"environments/course.jsonnet": windowed("course", "2027-08-01T00:00:00Z", "ann", "bob", "cho", "dai")})
	d := newDaemon(t, repo, fleet, func(c *daemon.Config) { c.Now = clk.Now })
	ctx := context.Background()
	d.Pass(ctx)
	before := fleet.containers(t)
	if len(before) != 4 {
		t.Fatalf("containers %v, want 4", before)
	}
	clk.Set(time.Date(2027, 8, 1, 0, 0, 30, 0, time.UTC)) // the window closed
	d.Pass(ctx)
	if after := fleet.containers(t); len(after) != 4 {
		t.Fatalf("the window's close deleted without approval: %v", after)
	}
	if n := heldReports(repo, c1, status.ApprovePrune); n == 0 {
		t.Fatalf("no report says the deletions are held: %+v", repo.reports())
	}
	for _, r := range repo.reports() {
		if r.Refused != nil && !strings.Contains(r.Refused.Reason, "rensei approve --commit "+c1+" --prune") {
			t.Errorf("the report does not say how to approve: %s", r.Refused.Reason)
		}
	}
	remote, err := gitrepo.OpenRemote(repo.bare, t.TempDir(), gitrepo.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	if err := status.Approve(ctx, remote, "", status.Approval{Commit: c1, Allow: []string{status.ApprovePrune}, By: "it-services", Reason: "semester over"}); err != nil {
		t.Fatal(err)
	}
	d.Pass(ctx)
	if after := fleet.containers(t); len(after) != 0 {
		t.Fatalf("approved, but the course is still there: %v", after)
	}
	if n := heldReports(repo, c1, status.ApprovePrune); n != 0 {
		t.Errorf("%d reports still say held after the approval", n)
	}
}

// TestGuardClockJump: the machine's clock jumps a year ahead, past every
// window; the daemon holds the deletions. A commit approving them (the
// trailer Rensei-Approve: prune) lets them through.
func TestGuardClockJump(t *testing.T) {
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	clk := &clock{now: time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)}
	repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites,
		"environments/a.jsonnet": windowed("spring", "2027-08-01", "ann", "bob"),
		"environments/b.jsonnet": windowed("summer", "2027-09-01", "cho", "dai")})
	d := newDaemon(t, repo, fleet, func(c *daemon.Config) { c.Now = clk.Now })
	ctx := context.Background()
	d.Pass(ctx)
	if got := fleet.containers(t); len(got) != 4 {
		t.Fatalf("containers %v, want 4", got)
	}
	clk.Set(time.Date(2028, 5, 1, 0, 0, 0, 0, time.UTC))
	d.Pass(ctx)
	d.Pass(ctx)
	if got := fleet.containers(t); len(got) != 4 {
		t.Fatalf("a clock jump deleted every environment: %v", got)
	}
	ok := repo.push("semesters are over\n\nRensei-Approve: prune", nil)
	d.Pass(ctx)
	if got := fleet.containers(t); len(got) != 0 {
		t.Fatalf("the approving commit %s did not let the deletions through: %v", ok, got)
	}
}

// TestRewindRefused: with signed commits, force-pushing the branch back
// to an older signed commit is refused (its signature is fine; going back
// is not), reported, and applied once approved.
func TestRewindRefused(t *testing.T) {
	key, keyring := pgpkey.New(t, "it-services")
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	old := repo.pushSigned(t, key, "ann", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("ann", "bob")})
	newer := repo.pushSigned(t, key, "cho", map[string]string{"environments/course.jsonnet": course("ann", "bob", "cho")})
	d := newDaemon(t, repo, fleet, func(c *daemon.Config) { c.Keyring = keyring })
	ctx := context.Background()
	d.Pass(ctx)
	if got := fleet.containers(t); len(got) != 3 {
		t.Fatalf("containers %v, want 3", got)
	}
	repo.Git("reset", "-q", "--hard", old)
	repo.Git("push", "-q", "-f", "origin", "main")
	d.Pass(ctx)
	if got := fleet.containers(t); len(got) != 3 {
		t.Fatalf("a signed rewind was applied: %v", got)
	}
	if n := heldReports(repo, old, status.ApproveRewind); n == 0 {
		t.Fatalf("no report says the rewind to %s is held: %+v", old, repo.reports())
	}
	for _, r := range repo.reports() {
		if r.Commit != newer || !strings.Contains(r.Refused.Reason, "does not descend from the enforced commit") {
			t.Errorf("report: enforcing %s, refused %+v", r.Commit, r.Refused)
		}
	}
	remote, err := gitrepo.OpenRemote(repo.bare, t.TempDir(), gitrepo.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	if err := status.Approve(ctx, remote, "", status.Approval{Commit: old, Allow: []string{status.ApproveRewind, status.ApprovePrune}, By: "it-services"}); err != nil {
		t.Fatal(err)
	}
	d.Pass(ctx)
	if got := fleet.containers(t); len(got) != 2 {
		t.Fatalf("the approved rewind was not applied: %v", got)
	}
	for _, r := range repo.reports() {
		if r.Commit != old || r.Refused != nil {
			t.Errorf("after the approval: enforcing %s, refused %+v", r.Commit, r.Refused)
		}
	}
}
