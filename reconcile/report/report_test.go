package report_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gogit "github.com/go-git/go-git/v5"

	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/report"
	"github.com/rensei-dev/rensei/reconcile/source"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.org"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// bare makes an empty bare repository.
func bare(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required")
	}
	dir := filepath.Join(t.TempDir(), "remote.git")
	git(t, t.TempDir(), "init", "-q", "--bare", "-b", "main", dir)
	return dir
}

func publisher(t *testing.T, url string) *report.Publisher {
	t.Helper()
	r, err := source.OpenRemote(url, t.TempDir(), source.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	return &report.Publisher{Remote: r, Backoff: 5 * time.Millisecond, Attempts: 50}
}

func sample(key, commit string, drifted int) report.Report {
	p := plan.Plan{}
	for i := range drifted {
		p.Steps = append(p.Steps, plan.Step{Host: key, Kind: plan.KindContainer, Name: fmt.Sprintf("c%d", i), Action: plan.Create, Reason: "absent"})
	}
	res := apply.Result{Done: p.Steps}
	return report.Build(key, commit, p, res, true, time.Now())
}

func TestBuildAndSupersedes(t *testing.T) {
	p := plan.Plan{Steps: []plan.Step{
		{Host: "a/h", Kind: plan.KindContainer, Name: "x", Action: plan.Create, Reason: "absent"},
		{Host: "a/h", Kind: plan.KindVolume, Name: "v", Action: plan.Skip, Reason: "kept"},
		{Host: "b/h", Kind: plan.KindContainer, Name: "y", Action: plan.Delete, Reason: "gone"},
	}}
	r := report.Build("a/h", "abc", p, apply.Result{Done: p.Steps[:1]}, true, time.Now())
	if len(r.Drift) != 1 || r.Drift[0].Name != "x" || len(r.Applied) != 1 || r.Site != "a" || r.Host != "h" {
		t.Fatalf("report: %+v", r)
	}
	later := r
	later.Time = r.Time.Add(time.Hour)
	if later.Supersedes(&r) {
		t.Error("a report differing only in time supersedes")
	}
	clean := report.Build("a/h", "abc", plan.Plan{}, apply.Result{}, true, time.Now())
	if clean.Supersedes(&r) {
		t.Error("a clean pass after a repair at the same commit supersedes the repair's record")
	}
	if !clean.Supersedes(nil) {
		t.Error("a first report does not supersede nothing")
	}
	moved := report.Build("a/h", "def", plan.Plan{}, apply.Result{}, true, time.Now())
	if !moved.Supersedes(&r) {
		t.Error("a new config commit does not supersede")
	}
	var decoded map[string]any
	if err := json.Unmarshal(r.JSON(), &decoded); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"host", "site", "commit", "time", "converged", "drift", "applied", "failed"} {
		if _, ok := decoded[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, r.JSON())
		}
	}
	if !strings.Contains(report.Message([]report.Report{r}), "a/h") || !strings.Contains(report.Message([]report.Report{r}), "abc") {
		t.Errorf("message: %s", report.Message([]report.Report{r}))
	}
}

func TestPublishOnlyOnChange(t *testing.T) {
	remote := bare(t)
	ctx := context.Background()
	p := publisher(t, remote)
	r := sample("site-a/docker", "c1", 1)
	if n, err := p.Publish(ctx, []report.Report{r}); err != nil || n != 1 {
		t.Fatalf("first publish: %d, %v", n, err)
	}
	r2 := r
	r2.Time = r.Time.Add(time.Minute)
	if n, err := p.Publish(ctx, []report.Report{r2}); err != nil || n != 0 {
		t.Fatalf("same content again: %d, %v", n, err)
	}
	// A new publisher (a restarted daemon) reads the branch and writes nothing.
	p2 := publisher(t, remote)
	if n, err := p2.Publish(ctx, []report.Report{r2}); err != nil || n != 0 {
		t.Fatalf("restarted daemon, same content: %d, %v", n, err)
	}
	if got := git(t, remote, "rev-list", "--count", report.DefaultBranch); got != "1" {
		t.Fatalf("%s commits, want 1", got)
	}
	show := git(t, remote, "show", report.DefaultBranch+":reports/site-a/docker.txt")
	if !strings.Contains(show, "create container c0") {
		t.Fatalf("text report: %s", show)
	}
	msg := git(t, remote, "log", "-1", "--format=%B", report.DefaultBranch)
	if !strings.Contains(msg, "site-a/docker") || !strings.Contains(msg, "c1") || !strings.Contains(msg, "create container c0") {
		t.Fatalf("commit message: %s", msg)
	}
	git(t, remote, "fsck", "--strict")
}

// TestConcurrentWriters races writers, each with its own cache, over one
// branch: every writer's latest report must be on the tip, none lost.
func TestConcurrentWriters(t *testing.T) {
	remote := bare(t)
	ctx := context.Background()
	hosts := []string{"site-a/docker", "site-b/docker", "site-c/docker"}
	const rounds = 8
	var wg sync.WaitGroup
	errs := make(chan error, len(hosts)*rounds)
	for _, h := range hosts {
		p := publisher(t, remote)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				if _, err := p.Publish(ctx, []report.Report{sample(h, fmt.Sprintf("c%d", i), i)}); err != nil {
					errs <- fmt.Errorf("%s round %d: %w", h, i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	git(t, remote, "fsck", "--strict")
	if got := git(t, remote, "rev-list", "--count", report.DefaultBranch); got != fmt.Sprint(len(hosts)*rounds) {
		t.Errorf("%s commits, want %d (one per change)", got, len(hosts)*rounds)
	}
	repo, err := gogit.PlainOpen(remote)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := repo.Reference("refs/heads/"+report.DefaultBranch, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := report.Read(repo.Storer, ref.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(hosts) {
		t.Fatalf("%d reports on the tip, want %d", len(got), len(hosts))
	}
	for i, r := range got {
		if r.Key() != hosts[i] || r.Commit != fmt.Sprintf("c%d", rounds-1) {
			t.Errorf("report %d: %s at %s, want %s at c%d", i, r.Key(), r.Commit, hosts[i], rounds-1)
		}
	}
}
