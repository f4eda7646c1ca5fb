package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/schema"
)

// TestPassPartial: after a pass with nothing to do, a new desired state on
// unchanged hosts is planned only for the environments whose desired
// objects changed (an environment added, removed, ended, or with an image,
// a member or a replica changed), and the plan is the very one a full
// pass computes; the pass converges every host.
func TestPassPartial(t *testing.T) {
	ctx := context.Background()
	partial, planned := 0, 0
	for seed := uint64(1); seed <= 200; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			topoA := randomTopology(rand.New(rand.NewPCG(seed, 17)))
			topoB := randomTopology(rand.New(rand.NewPCG(seed, 17)))
			r := rand.New(rand.NewPCG(seed, 31))
			what := mutateEnvs(r, topoB)
			if err := schema.Validate(topoB); err != nil {
				return // not counted: the check below sees how many were tested
			}
			cf := newCachedFakes("campus/h0", "campus/h1", "cloud/h0", "cloud/h1", "backup/h0", "backup/h1")
			hosts := cf.hosts()
			wantA, err := place.Place(topoA, place.Options{Commit: "a", Now: now})
			if err != nil {
				t.Fatal(err)
			}
			wantB, err := place.Place(topoB, place.Options{Commit: "b", Now: now})
			if err != nil {
				t.Fatalf("%s: place: %v", what, err)
			}
			for i := 0; ; i++ {
				if out := engine.Pass(ctx, wantA, hosts, engine.Options{}); out.Plan.Empty() {
					break
				}
				if i == 3 {
					t.Fatal("the first desired state did not converge")
				}
			}
			engine.Pass(ctx, wantA, hosts, engine.Options{}) // noted when the first with nothing to do read no cache yet
			want := plan.Compute(hosts.Only(wantB), engine.ObserveFor(ctx, hosts.Drivers, "", hosts.Only(wantB)))
			before := cf.cache.Stats().Partial
			var got plan.Plan
			out := engine.Pass(ctx, wantB, hosts, engine.Options{Guard: func(p plan.Plan, _ plan.Observed) (plan.Plan, error) {
				got = p
				return p, nil
			}})
			if cf.cache.Stats().Partial != before+1 {
				t.Fatalf("%s: the pass planned every environment", what)
			}
			for _, env := range out.Planned {
				if !strings.Contains(what, " "+env) {
					t.Errorf("%s: the pass planned %s, which did not change", what, env)
				}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("%s: the partial plan differs from the full one (-full +partial):\n%s", what, d)
			}
			if !out.Converged() {
				t.Fatalf("%s: not converged:\n%s", what, render(out.Remaining))
			}
			if again := plan.Compute(hosts.Only(wantB), engine.Observe(ctx, cf.raw)); !again.Empty() {
				t.Fatalf("%s: the hosts are not converged (the partial pass said so):\n%s", what, render(again))
			}
			partial++
			if want.Changes() > 0 {
				planned++
			}
		})
	}
	// Most mutations make valid topologies, and most of those change something.
	if partial < 150 || planned < 100 {
		t.Errorf("%d partial passes, %d with changes: the generator tests too little", partial, planned)
	}
}

// mutateEnvs changes one or two environments of t (or none) and says how.
func mutateEnvs(r *rand.Rand, t *schema.Topology) string {
	var did []string
	for range 1 + r.IntN(2) {
		envs := t.Environments
		e := &envs[r.IntN(len(envs))]
		g := &e.Groups[r.IntN(len(e.Groups))]
		switch r.IntN(7) {
		case 0:
			if len(envs) > 1 {
				did = append(did, "removed "+envs[0].Name)
				t.Environments = slices.Delete(envs, 0, 1)
			}
		case 1:
			g.Image = "rensei/busybox:4"
			did = append(did, "image of "+e.Name+"/"+g.Name)
		case 2:
			switch {
			case g.Networks[0].Address != "":
				g.Command = []string{"sleep", "1000"}
			case g.Replicas > 0:
				g.Replicas++
			default:
				g.Members = append(g.Members, "new")
			}
			did = append(did, "one more in "+e.Name+"/"+g.Name)
		case 3:
			if e.Active == nil {
				e.Active = &schema.Window{Until: schema.MustTime("2027-04-01")}
			} else {
				e.Active = nil
			}
			did = append(did, "window of "+e.Name)
		case 4:
			if !slices.ContainsFunc(envs, func(e schema.Environment) bool { return e.Name == "extra" }) {
				t.Environments = append(t.Environments, schema.Environment{Name: "extra",
					Networks: []schema.Network{{Name: "n", Subnet: "198.19.60.0/24"}},
					Groups:   []schema.Group{{Name: "g", Image: "rensei/busybox:1", Replicas: 2, Networks: []schema.Attachment{{Network: "n"}}}}})
				did = append(did, "added extra")
			}
		case 5:
			g.Volumes = nil
			did = append(did, "no volume in "+e.Name+"/"+g.Name)
		default:
			did = append(did, "nothing")
		}
	}
	return fmt.Sprint(did)
}
