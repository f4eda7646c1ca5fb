package daemon_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/daemon"
)

// TestLifecycle walks one daemon through the story on fake hosts:
// a member added, a broken commit, the fix, drift repaired without a push.
func TestLifecycle(t *testing.T) {
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	c1 := repo.push("two students", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("ann", "bob")})
	d := newDaemon(t, repo, fleet, nil)
	ctx := context.Background()

	if got := d.Pass(ctx); got != daemon.ResultChanged {
		t.Fatalf("first pass: %s", got)
	}
	if got := len(fleet.containers(t)); got != 2 {
		t.Fatalf("%d containers, want 2: %v", got, fleet.containers(t))
	}
	rs := repo.reports()
	if len(rs) != 3 {
		t.Fatalf("%d reports, want one per host: %v", len(rs), rs)
	}
	for k, r := range rs {
		if !r.Converged || r.Commit != c1 {
			t.Errorf("%s: converged=%v at %s, want converged at %s", k, r.Converged, r.Commit, c1)
		}
	}
	if !d.Ready() {
		t.Error("not ready after a successful pass")
	}

	// A member is added: converged, and reported at the new commit.
	c2 := repo.push("add cho", map[string]string{"environments/course.jsonnet": course("ann", "bob", "cho")})
	d.Pass(ctx)
	if !slices.ContainsFunc(fleet.containers(t), func(s string) bool { return strings.HasSuffix(s, "course_lab_cho") }) {
		t.Fatalf("cho not created: %v", fleet.containers(t))
	}
	added := 0
	for _, r := range repo.reports() {
		if r.Commit != c2 || !r.Converged {
			t.Errorf("%s at %s converged=%v, want converged at %s", r.Key(), r.Commit, r.Converged, c2)
		}
		for _, a := range r.Applied {
			if a.Name == "course_lab_cho" && a.Action == "create" {
				added++
			}
		}
	}
	if added != 1 {
		t.Errorf("cho's creation reported %d times, want once", added)
	}

	// A broken commit: nothing changes, every report says why.
	before := fleet.containers(t)
	bad := repo.push("broken", map[string]string{"environments/course.jsonnet": "{ name: 'course', groups: [ \n"})
	d.Pass(ctx)
	if after := fleet.containers(t); !slices.Equal(before, after) {
		t.Fatalf("a broken commit changed hosts: %v → %v", before, after)
	}
	for _, r := range repo.reports() {
		if r.Refused == nil || r.Refused.Commit != bad || !strings.Contains(r.Refused.Reason, "course.jsonnet") || r.Commit != c2 {
			t.Errorf("%s: refused=%+v commit=%s; want refused %s naming course.jsonnet, %s still enforced", r.Key(), r.Refused, r.Commit, bad, c2)
		}
	}
	// The broken head is evaluated once, not on every pass.
	evals := d.Stats().Evaluations
	d.Pass(ctx)
	if d.Stats().Evaluations != evals {
		t.Error("a refused head was evaluated again")
	}

	// The fix converges and clears the refusal.
	c3 := repo.push("fix", map[string]string{"environments/course.jsonnet": course("ann", "bob", "cho", "dai")})
	d.Pass(ctx)
	if got := len(fleet.containers(t)); got != 4 {
		t.Fatalf("%d containers after the fix, want 4", got)
	}
	for _, r := range repo.reports() {
		if r.Refused != nil || r.Commit != c3 || !r.Converged {
			t.Errorf("%s after the fix: %+v", r.Key(), r)
		}
	}

	// Drift: a managed container disappears; repaired and reported, no config push.
	h := fleet.where(t, "course_lab_ann")
	h.Remove("container", "course_lab_ann")
	commits := repo.statusCommits()
	d.Pass(ctx)
	if len(fleet.containers(t)) != 4 {
		t.Fatal("the removed container was not recreated")
	}
	if repo.statusCommits() != commits+1 {
		t.Errorf("status commits %d → %d, want one more for the repair", commits, repo.statusCommits())
	}
	var repaired bool
	for _, r := range repo.reports() {
		for _, a := range r.Applied {
			repaired = repaired || a.Name == "course_lab_ann" && r.Commit == c3
		}
	}
	if !repaired {
		t.Error("the repair is not in the reports")
	}
	repo.git(repo.bare, "fsck", "--strict")
}

// TestNothingToDo: with no new commit and no drift, a pass costs one ref
// check and one list per kind per host: no Jsonnet, no fetch, no commit.
func TestNothingToDo(t *testing.T) {
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("ann", "bob", "cho")})
	d := newDaemon(t, repo, fleet, nil)
	ctx := context.Background()
	d.Pass(ctx)
	d.Pass(ctx) // converged now
	before := d.Stats()
	calls := map[string]map[string]int{}
	for k, h := range fleet.hosts {
		calls[k] = clone(h.Calls)
	}
	const passes = 5
	for range passes {
		if got := d.Pass(ctx); got != daemon.ResultConverged {
			t.Fatalf("pass: %s", got)
		}
	}
	after := d.Stats()
	if after.Evaluations != before.Evaluations || after.Fetches != before.Fetches || after.Commits != before.Commits {
		t.Errorf("idle passes evaluated, fetched or committed: %+v → %+v", before, after)
	}
	if after.RefChecks-before.RefChecks != passes {
		t.Errorf("%d ref checks in %d passes", after.RefChecks-before.RefChecks, passes)
	}
	for k, h := range fleet.hosts {
		for call, n := range h.Calls {
			if d := n - calls[k][call]; d != passes && strings.HasSuffix(call, ".list") || !strings.HasSuffix(call, ".list") && d != 0 {
				t.Errorf("%s: %s called %d times in %d idle passes", k, call, d, passes)
			}
		}
	}
}

func clone(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestRemoteUnreachable: enforcement goes on with the last good revision
// while the remote is gone; reports written then are pushed on its return.
func TestRemoteUnreachable(t *testing.T) {
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	c1 := repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("ann", "bob")})
	d := newDaemon(t, repo, fleet, nil)
	ctx := context.Background()
	d.Pass(ctx)
	if err := os.Rename(repo.bare, repo.bare+".away"); err != nil {
		t.Fatal(err)
	}
	renamed := true
	t.Cleanup(func() {
		if renamed {
			os.Rename(repo.bare+".away", repo.bare)
		}
	})
	fleet.where(t, "course_lab_bob").Remove("container", "course_lab_bob")
	d.Pass(ctx)
	if len(fleet.containers(t)) != 2 {
		t.Fatal("drift not repaired while the remote is unreachable")
	}
	if err := os.Rename(repo.bare+".away", repo.bare); err != nil {
		t.Fatal(err)
	}
	renamed = false
	// The next ref check waits for the backoff (1s after the first failure).
	time.Sleep(1100 * time.Millisecond)
	d.Pass(ctx)
	var repaired bool
	for _, r := range repo.reports() {
		for _, a := range r.Applied {
			repaired = repaired || a.Name == "course_lab_bob" && r.Commit == c1
		}
	}
	if !repaired {
		t.Error("the repair made while the remote was away was not reported on its return")
	}
	c2 := repo.push("more", map[string]string{"environments/course.jsonnet": course("ann", "bob", "cho")})
	d.Pass(ctx)
	for _, r := range repo.reports() {
		if r.Commit != c2 {
			t.Errorf("%s at %s after recovery, want %s", r.Key(), r.Commit, c2)
		}
	}
}

// TestPruneGuard: a revision deleting every container of a host is held;
// the previous one stays enforced; --allow-prune lets it through.
func TestPruneGuard(t *testing.T) {
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	c1 := repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("ann", "bob", "cho", "dai")})
	d := newDaemon(t, repo, fleet, nil)
	ctx := context.Background()
	d.Pass(ctx)
	before := fleet.containers(t)
	gone := repo.push("semester over", map[string]string{"environments/course.jsonnet": course()})
	d.Pass(ctx)
	if after := fleet.containers(t); !slices.Equal(before, after) {
		t.Fatalf("a held revision changed hosts: %v → %v", before, after)
	}
	held := 0
	for _, r := range repo.reports() {
		if r.Refused != nil && r.Refused.Held && r.Refused.Commit == gone && r.Commit == c1 {
			held++
		}
	}
	if held != 3 {
		t.Fatalf("%d reports say the revision is held, want 3: %v", held, repo.reports())
	}
	d.Close() // restarted with --allow-prune
	allowed := newDaemon(t, repo, fleet, func(c *daemon.Config) { c.AllowPrune = true })
	allowed.Pass(ctx)
	if got := fleet.containers(t); len(got) != 0 {
		t.Fatalf("with --allow-prune: %v left", got)
	}
}

// TestRefusedUnsignedHead: with a key ring, an unsigned head is refused.
func TestRefusedUnsignedHead(t *testing.T) {
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	head := repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("ann")})
	d := newDaemon(t, repo, fleet, func(c *daemon.Config) {
		c.Keyring = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----\n"
		c.Hosts = []string{"site-a/docker"}
	})
	if got := d.Pass(context.Background()); got != daemon.ResultNoConfig {
		t.Fatalf("pass: %s, want %s", got, daemon.ResultNoConfig)
	}
	if len(fleet.containers(t)) != 0 {
		t.Fatal("an unsigned head was applied")
	}
	r, ok := repo.reports()["site-a/docker"]
	if !ok || r.Refused == nil || r.Refused.Commit != head || !strings.Contains(r.Refused.Reason, "unsigned") {
		t.Fatalf("report: %+v", r)
	}
}

// TestThreeDaemonsShareRemote: one daemon per host, a burst of pushes;
// every host's latest report is on the status branch, none lost.
func TestThreeDaemonsShareRemote(t *testing.T) {
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("m0")})
	for _, h := range []string{"site-a/docker", "site-b/docker", "site-c/docker"} {
		d := newDaemon(t, repo, fleet, func(c *daemon.Config) {
			c.Hosts = []string{h}
			c.Interval = 50 * time.Millisecond
		})
		run(t, d)
	}
	members := []string{"m0"}
	var last string
	for i := 1; i <= 10; i++ {
		members = append(members, fmt.Sprintf("m%d", i))
		last = repo.push(fmt.Sprintf("add m%d", i), map[string]string{"environments/course.jsonnet": course(members...)})
		time.Sleep(time.Duration(i%3) * 20 * time.Millisecond)
	}
	eventually(t, 30*time.Second, "every host reported at the last commit", func() bool {
		rs := repo.reports()
		if len(rs) != 3 {
			return false
		}
		for _, r := range rs {
			if r.Commit != last || !r.Converged {
				return false
			}
		}
		return true
	})
	if got := len(fleet.containers(t)); got != len(members) {
		t.Errorf("%d containers, want %d", got, len(members))
	}
	repo.git(repo.bare, "fsck", "--strict")
	// Every commit of the branch changes only one daemon's files: no writer overwrote another.
	log := repo.git(repo.bare, "log", "--format=%H", "rensei/status")
	for _, c := range strings.Fields(log) {
		files := strings.Fields(repo.git(repo.bare, "show", "--format=", "--name-only", c))
		hosts := map[string]bool{}
		for _, f := range files {
			hosts[strings.TrimSuffix(strings.TrimSuffix(f, ".json"), ".txt")] = true
		}
		if len(hosts) != 1 {
			t.Errorf("commit %s touches %v: more than one daemon's files", c, files)
		}
	}
}

// TestRunWakesOnLocalRefChange: with an hour's interval, a push to a
// local repository is picked up through fsnotify within seconds; cancel stops Run.
func TestRunWakesOnLocalRefChange(t *testing.T) {
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("ann")})
	d := newDaemon(t, repo, fleet, nil)
	run(t, d)
	eventually(t, 10*time.Second, "first pass", d.Ready)
	start := time.Now()
	repo.push("add bob", map[string]string{"environments/course.jsonnet": course("ann", "bob")})
	eventually(t, 5*time.Second, "bob created after the push", func() bool { return len(fleet.containers(t)) == 2 })
	t.Logf("push to converged: %s", time.Since(start).Round(time.Millisecond))
}

// TestPruneGuardHostDownAtAdoption: a revision adopted while a host was
// down has not been guarded for that host; when the host is back and the
// revision would prune it, its deletions are held and reported.
func TestPruneGuardHostDownAtAdoption(t *testing.T) {
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("ann", "bob", "cho", "dai")})
	d := newDaemon(t, repo, fleet, nil)
	ctx := context.Background()
	d.Pass(ctx)
	before := fleet.containers(t)
	for _, h := range fleet.hosts {
		h.SetDown(true)
	}
	gone := repo.push("semester over", map[string]string{"environments/course.jsonnet": course()})
	d.Pass(ctx)
	for _, h := range fleet.hosts {
		h.SetDown(false)
	}
	d.Pass(ctx)
	if after := fleet.containers(t); !slices.Equal(before, after) {
		t.Fatalf("hosts back from an outage were pruned without the guard: %v → %v", before, after)
	}
	held := 0
	for _, r := range repo.reports() {
		if r.Refused != nil && r.Refused.Held && r.Refused.Commit == gone {
			held++
		}
	}
	if held == 0 {
		t.Fatalf("no report says the pruning is held: %v", repo.reports())
	}
}

// TestRestartWithHeldHead: a daemon started while the head is held (or
// refused) enforces the revision its hosts' reports say was enforced, so
// drift is still repaired.
func TestRestartWithHeldHead(t *testing.T) {
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	c1 := repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("ann", "bob", "cho", "dai")})
	ctx := context.Background()
	first := newDaemon(t, repo, fleet, nil)
	first.Pass(ctx)
	repo.push("semester over", map[string]string{"environments/course.jsonnet": course()})
	first.Pass(ctx) // held
	first.Close()
	before := fleet.containers(t)

	restarted := newDaemon(t, repo, fleet, nil)
	victim := before[0]
	_, name, _ := strings.Cut(victim, ": ")
	fleet.where(t, name).Remove("container", name)
	if got := restarted.Pass(ctx); got == daemon.ResultNoConfig {
		t.Fatalf("the restarted daemon enforces nothing while the head is held")
	}
	if after := fleet.containers(t); !slices.Equal(before, after) {
		t.Fatalf("drift not repaired after a restart with a held head: %v → %v", before, after)
	}
	for host, r := range repo.reports() {
		if r.Commit != c1 || r.Refused == nil || !r.Refused.Held {
			t.Errorf("%s: report %+v; want commit %s enforced and the head held", host, r, c1)
		}
	}
}

// TestWindowOpensOntoConflict: when an active window opens onto a placement
// problem, the daemon keeps enforcing the placement from before and says
// why, instead of stopping every environment.
func TestWindowOpensOntoConflict(t *testing.T) {
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	later := `{
  name: 'later',
  active: { from: '2030-01-01' },
  networks: [{ name: 'lan', subnet: '198.19.0.128/25' }],
  groups: [{ name: 'g', image: 'rensei/busybox:latest', replicas: 3, networks: [{ network: 'lan' }] }],
}
`
	now := `{
  name: 'now',
  networks: [{ name: 'lan', subnet: '198.19.0.0/24' }],
  groups: [{ name: 'g', image: 'rensei/busybox:latest', replicas: 3, networks: [{ network: 'lan' }] }],
}
`
	c1 := repo.push("two environments", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/now.jsonnet": now, "environments/later.jsonnet": later})
	clock := time.Date(2029, 12, 31, 23, 0, 0, 0, time.UTC)
	d := newDaemon(t, repo, fleet, func(c *daemon.Config) { c.Now = func() time.Time { return clock } })
	ctx := context.Background()
	d.Pass(ctx)
	before := fleet.containers(t)
	if len(before) != 3 {
		t.Fatalf("before the window: %v", before)
	}
	clock = time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	name := strings.SplitN(before[0], ": ", 2)[1]
	fleet.where(t, name).Remove("container", name)
	d.Pass(ctx)
	if after := fleet.containers(t); !slices.Equal(before, after) {
		t.Fatalf("drift not repaired after the window opened onto a conflict: %v → %v", before, after)
	}
	for host, r := range repo.reports() {
		if r.Commit != c1 || r.Refused == nil || !strings.Contains(r.Refused.Reason, "overlaps") {
			t.Errorf("%s: report %+v; want the conflict reported", host, r)
		}
	}
}
