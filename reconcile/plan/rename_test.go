package plan_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/compare"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/schema"
)

// TestRenamesAgree: the live plan (what is on the hosts against the head)
// and the comparison of two revisions (base against head) flag the same
// renames, found by the one detector, by content; and an unrelated
// removal plus creation is called a rename by neither.
func TestRenamesAgree(t *testing.T) {
	unrelated := func(topo *schema.Topology) {
		e := &topo.Environments[0]
		e.Name = "spark"
		e.Groups = []schema.Group{{Name: "worker", Image: "spark:3", Replicas: 3, Networks: []schema.Attachment{{Network: "lab"}}}}
	}
	tests := []struct {
		name string
		edit func(*schema.Topology)
		want []change.Rename
	}{
		{"environment renamed", func(topo *schema.Topology) { topo.Environments[0].Name = "cs102" },
			[]change.Rename{{Kind: change.KindEnvironment, From: "cs101", To: "cs102", Instances: 5, Networks: 1, Volumes: 4}}},
		{"group renamed", func(topo *schema.Topology) { topo.Environments[0].Groups[0].Name = "pupil" },
			[]change.Rename{{Kind: change.KindGroup, Env: "cs101", From: "student", To: "pupil", Instances: 4, Volumes: 4}}},
		{"unrelated environment replaces another", unrelated, nil},
		{"group renamed and changed", func(topo *schema.Topology) {
			g := &topo.Environments[0].Groups[0]
			g.Name, g.Image = "pupil", "rensei/busybox:9"
		}, nil},
		{"member added", func(topo *schema.Topology) {
			g := &topo.Environments[0].Groups[0]
			g.Members = append(g.Members, "eve")
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := desired(t, topology("rensei/busybox:1", "ann", "bob", "cy", "dee"))
			topo := topology("rensei/busybox:1", "ann", "bob", "cy", "dee")
			tt.edit(topo)
			head := desired(t, topo)
			w := newWorld()
			w.converge(t, base)
			live := plan.Compute(head, w.observe(t)).Renames
			revisions := compare.Compare(base, head).Renames
			if d := cmp.Diff(tt.want, live); d != "" {
				t.Errorf("plan renames (-want +got):\n%s", d)
			}
			if d := cmp.Diff(live, revisions); d != "" {
				t.Errorf("plan and plan --base disagree (-plan +compare):\n%s", d)
			}
		})
	}
}
