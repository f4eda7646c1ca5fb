package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/test/gittest"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return gittest.Run(t, dir, args...)
}

// bare makes an empty bare repository.
func bare(t *testing.T) string {
	t.Helper()
	return gittest.New(t).Bare()
}

func publisher(t *testing.T, url string) *status.Publisher {
	t.Helper()
	r, err := gitrepo.OpenRemote(url, t.TempDir(), gitrepo.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	return &status.Publisher{Remote: r, Backoff: 5 * time.Millisecond, Attempts: 50}
}

func sample(key, commit string, drifted int) status.Report {
	p := plan.Plan{}
	for i := range drifted {
		p.Steps = append(p.Steps, plan.Step{Ref: change.Ref{Host: key, Kind: change.KindContainer, Name: fmt.Sprintf("c%d", i), Env: "course"}, Action: change.Create, Reason: "absent"})
	}
	res := apply.Result{Done: p.Steps}
	return status.Build(key, commit, p, res, true, time.Now())
}

func TestBuildAndSupersedes(t *testing.T) {
	p := plan.Plan{Steps: []plan.Step{
		{Ref: change.Ref{Host: "a/h", Kind: change.KindContainer, Name: "x", Env: "cs101"}, Action: change.Create, Reason: "absent"},
		{Ref: change.Ref{Host: "a/h", Kind: change.KindVolume, Name: "v", Env: "cs101"}, Action: change.Keep, Reason: "kept"},
		{Ref: change.Ref{Host: "b/h", Kind: change.KindContainer, Name: "y", Env: "cs102"}, Action: change.Delete, Reason: "gone"},
	}}
	r := status.Build("a/h", "abc", p, apply.Result{Done: p.Steps[:1]}, true, time.Now())
	if len(r.Drift) != 1 || r.Drift[0].Name != "x" || len(r.Applied) != 1 || r.Site != "a" || r.Host != "h" {
		t.Fatalf("report: %+v", r)
	}
	if !r.Mentions("cs101") || r.Mentions("cs102") || r.Drift[0].Env != "cs101" {
		t.Errorf("items do not carry their environment: %+v", r.Drift)
	}
	later := r
	later.Time = r.Time.Add(time.Hour)
	if later.Supersedes(&r) {
		t.Error("a report differing only in time supersedes")
	}
	clean := status.Build("a/h", "abc", plan.Plan{}, apply.Result{}, true, time.Now())
	if clean.Supersedes(&r) {
		t.Error("a clean pass after a repair at the same commit supersedes the repair's record")
	}
	if !clean.Supersedes(nil) {
		t.Error("a first report does not supersede nothing")
	}
	moved := status.Build("a/h", "def", plan.Plan{}, apply.Result{}, true, time.Now())
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
	if !strings.Contains(status.Message([]status.Report{r}), "a/h") || !strings.Contains(status.Message([]status.Report{r}), "abc") {
		t.Errorf("message: %s", status.Message([]status.Report{r}))
	}
}

func TestPublishOnlyOnChange(t *testing.T) {
	remote := bare(t)
	ctx := context.Background()
	p := publisher(t, remote)
	r := sample("site-a/docker", "c1", 1)
	if n, err := p.Publish(ctx, []status.Report{r}); err != nil || n != 1 {
		t.Fatalf("first publish: %d, %v", n, err)
	}
	r2 := r
	r2.Time = r.Time.Add(time.Minute)
	if n, err := p.Publish(ctx, []status.Report{r2}); err != nil || n != 0 {
		t.Fatalf("same content again: %d, %v", n, err)
	}
	// A new publisher (a restarted daemon) reads the branch and writes nothing.
	p2 := publisher(t, remote)
	if n, err := p2.Publish(ctx, []status.Report{r2}); err != nil || n != 0 {
		t.Fatalf("restarted daemon, same content: %d, %v", n, err)
	}
	if got := git(t, remote, "rev-list", "--count", status.DefaultBranch); got != "1" {
		t.Fatalf("%s commits, want 1", got)
	}
	show := git(t, remote, "show", status.DefaultBranch+":reports/site-a/docker.txt")
	if !strings.Contains(show, "create container c0") {
		t.Fatalf("text report: %s", show)
	}
	msg := git(t, remote, "log", "-1", "--format=%B", status.DefaultBranch)
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
				if _, err := p.Publish(ctx, []status.Report{sample(h, fmt.Sprintf("c%d", i), i)}); err != nil {
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
	if got := git(t, remote, "rev-list", "--count", status.DefaultBranch); got != fmt.Sprint(len(hosts)*rounds) {
		t.Errorf("%s commits, want %d (one per change)", got, len(hosts)*rounds)
	}
	repo, err := gitrepo.Open(remote)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := repo.Resolve(status.DefaultBranch)
	if err != nil {
		t.Fatal(err)
	}
	got, err := status.Read(rev.FS)
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
