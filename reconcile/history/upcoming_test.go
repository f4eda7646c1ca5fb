package history_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/history"
	"github.com/rensei-dev/rensei/reconcile/render"
	"github.com/rensei-dev/rensei/test/gittest"
)

// nextTerm is a course whose window opens on 2027-09-01.
func nextTerm(members ...string) string {
	return `local r = import 'rensei.libsonnet';
r.course('cs101', ['` + strings.Join(members, "', '") + `'], sites=['campus'], subnet='198.19.1.0/24', image='busybox:1', active={ from: '2027-09-01' })
`
}

// TestHistoryScheduled: a commit that adds a student to a course whose
// window opens later changes nothing at its own time, and is listed all
// the same, saying what it changes when the window opens.
func TestHistoryScheduled(t *testing.T) {
	r := gittest.New(t)
	r.CommitAs("alice", "2027-01-10T09:00:00Z", "next term's course", map[string]string{"sites/lab.jsonnet": sitesFile,
		"environments/cs101.jsonnet": nextTerm("ann", "bob")})
	added := r.CommitAs("bob", "2027-01-12T09:00:00Z", "cs101: add cyd", map[string]string{"environments/cs101.jsonnet": nextTerm("ann", "bob", "cyd")})
	repo, err := gitrepo.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)
	for _, env := range []string{"", "cs101"} {
		tl, err := history.Build(repo, history.Options{Env: env, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		var c *history.Commit
		for _, e := range tl.Entries {
			if e.Kind == history.KindCommit && e.Commit.Hash == added {
				c = e.Commit
			}
		}
		if c == nil {
			t.Fatalf("env %q: the commit adding cyd is not listed: %+v", env, tl.Entries)
		}
		if len(c.Upcoming) != 1 || c.Upcoming[0].Env != "cs101" || c.Upcoming[0].Diff.Counts().Containers.Create != 1 {
			t.Errorf("env %q: upcoming %+v, want cs101 +1 container", env, c.Upcoming)
		}
		var b bytes.Buffer
		if err := render.Timeline(&b, tl, now); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "environment cs101: when it opens 2027-09-01: containers +1") {
			t.Errorf("env %q: the timeline does not say what the opening does:\n%s", env, b.String())
		}
	}
}
