package history

import (
	"testing"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/test/gittest"
)

// TestEvaluatedOnce: commits with the same configuration share one evaluation.
func TestEvaluatedOnce(t *testing.T) {
	r := gittest.New(t)
	sites := "local r = import 'rensei.libsonnet';\nr.site('campus', [r.host('h0', underlay='198.18.0.1')])\n"
	env := func(image string) string {
		return "{ name: 'e', groups: [{ name: 'g', image: '" + image + "', replicas: 1 }] }\n"
	}
	r.Commit("one", map[string]string{"sites/s.jsonnet": sites, "environments/e.jsonnet": env("a:1")})
	r.Commit("readme", map[string]string{"README.md": "x\n"})
	r.Commit("two", map[string]string{"environments/e.jsonnet": env("a:2")})
	r.Commit("readme again", map[string]string{"README.md": "y\n"})
	repo, err := gitrepo.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	commits, err := repo.Log("HEAD", false)
	if err != nil {
		t.Fatal(err)
	}
	ev := newEvaluator(repo, Options{})
	for _, c := range commits {
		if _, err := ev.describe(c); err != nil {
			t.Fatal(err)
		}
	}
	// Four commits, two configurations: the README commits share theirs.
	if len(commits) != 4 || len(ev.byConfig) != 2 {
		t.Errorf("%d commits, %d evaluations; want 4 and 2", len(commits), len(ev.byConfig))
	}
}
