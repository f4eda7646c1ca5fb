package daemon_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/reconcile/daemon"
	"github.com/rensei-dev/rensei/reconcile/status"
)

// reportOf reads one host's report from the status branch of the bare
// remote, as it is (other files of the branch may be unreadable).
func (r *configRepo) reportOf(key string) status.Report {
	r.t.Helper()
	site, host := status.SplitKey(key)
	jsonPath, _ := status.Paths(site, host)
	var rep status.Report
	if err := json.Unmarshal([]byte(r.git(r.bare, "show", status.DefaultBranch+":"+jsonPath)), &rep); err != nil {
		r.t.Fatalf("%s: %v", jsonPath, err)
	}
	return rep
}

// TestFetchFailureReported: a head the remote advertises but cannot send
// (an object is missing) leaves the enforced revision in force, and every
// host's report says the fetch failed; once the remote is whole again the
// warning goes and the head is adopted.
func TestFetchFailureReported(t *testing.T) {
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	c1 := repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("ann", "bob")})
	d := newDaemon(t, repo, fleet, nil)
	ctx := context.Background()
	d.Pass(ctx)
	c2 := repo.push("add cho", map[string]string{"environments/course.jsonnet": course("ann", "bob", "cho")})
	// Take the new environment file's blob out of the remote.
	blob := repo.git(repo.bare, "rev-parse", c2+":environments/course.jsonnet")
	obj := filepath.Join(repo.bare, "objects", blob[:2], blob[2:])
	saved, err := os.ReadFile(obj)
	if err != nil {
		t.Fatalf("the blob is not a loose object: %v", err)
	}
	if err := os.Remove(obj); err != nil {
		t.Fatal(err)
	}
	d.Pass(ctx)
	if got := len(fleet.containers(t)); got != 2 {
		t.Fatalf("%d containers while the head cannot be fetched, want 2", got)
	}
	for _, key := range []string{"site-a/docker", "site-b/docker", "site-c/docker"} {
		r := repo.reportOf(key)
		if r.Commit != c1 || !slices.ContainsFunc(r.Warnings, func(w string) bool {
			return strings.HasPrefix(w, "fetch of branch main (head "+c2[:12]+") failed")
		}) {
			t.Errorf("%s: report at %s with warnings %q; want %s enforced and the failed fetch named", key, r.Commit, r.Warnings, c1[:12])
		}
		if r.Clean() {
			t.Errorf("%s: a report with a warning is clean", key)
		}
	}
	if err := os.WriteFile(obj, saved, 0o444); err != nil {
		t.Fatal(err)
	}
	d.Pass(ctx)
	if got := len(fleet.containers(t)); got != 3 {
		t.Fatalf("%d containers after the remote recovered, want 3", got)
	}
	if r := repo.reportOf("site-a/docker"); r.Commit != c2 || len(r.Warnings) > 0 {
		t.Errorf("after recovery: report at %s with warnings %q", r.Commit, r.Warnings)
	}
}

// TestUnreadableReportKeepsFallback: a restarted daemon whose head is
// refused falls back to the revision the reports say was enforced even
// when one report on the status branch is unreadable, and says so.
func TestUnreadableReportKeepsFallback(t *testing.T) {
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	c1 := repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("ann", "bob", "cho")})
	ctx := context.Background()
	first := newDaemon(t, repo, fleet, nil)
	first.Pass(ctx)
	first.Close()
	repo.push("broken", map[string]string{"environments/course.jsonnet": "{ name: 'course', groups: [ }\n"})
	// Someone breaks one report on the status branch.
	clone := filepath.Join(t.TempDir(), "status")
	repo.git(filepath.Dir(clone), "clone", "-q", "-b", status.DefaultBranch, repo.bare, clone)
	if err := os.WriteFile(filepath.Join(clone, "reports", "site-b", "docker.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo.git(clone, "commit", "-qam", "vandalism")
	repo.git(clone, "push", "-q", "origin", status.DefaultBranch)

	before := fleet.containers(t)
	_, name, _ := strings.Cut(before[0], ": ")
	fleet.where(t, name).Remove("container", name)
	restarted := newDaemon(t, repo, fleet, nil)
	if got := restarted.Pass(ctx); got == daemon.ResultNoConfig {
		t.Fatal("one unreadable report disabled the fallback: nothing is enforced")
	}
	if after := fleet.containers(t); !slices.Equal(before, after) {
		t.Fatalf("drift not repaired: %v → %v", before, after)
	}
	r := repo.reportOf("site-a/docker")
	if r.Commit != c1 || r.Refused == nil || !slices.ContainsFunc(r.Warnings, func(w string) bool {
		return strings.Contains(w, "unreadable reports skipped") && strings.Contains(w, "reports/site-b/docker.json")
	}) {
		t.Errorf("report %+v: want %s enforced, the head refused and the unreadable report named", r, c1[:12])
	}
}
