package engine_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/fake"
	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/schema"
)

var now = time.Date(2027, 5, 1, 12, 0, 0, 0, time.UTC)

// randomTopology builds a valid topology: 3 sites of 1–2 hosts, 1–3
// environments of 1–2 networks and 1–3 groups with random images, sizes,
// placements and windows.
func randomTopology(r *rand.Rand) *schema.Topology {
	t := &schema.Topology{}
	n := 1
	for _, s := range []string{"campus", "cloud", "backup"} {
		site := schema.Site{Name: s}
		for h := 0; h < 1+r.IntN(2); h++ {
			site.Hosts = append(site.Hosts, schema.Host{Name: fmt.Sprintf("h%d", h), Docker: fmt.Sprintf("unix:///fake-%d.sock", n), Underlay: fmt.Sprintf("198.18.0.%d", n)})
			n++
		}
		t.Sites = append(t.Sites, site)
	}
	images := []string{"rensei/busybox:1", "rensei/busybox:2", "rensei/busybox:3"}
	envNames := []string{"cs101", "spark", "hpc", "web"}
	r.Shuffle(len(envNames), func(i, j int) { envNames[i], envNames[j] = envNames[j], envNames[i] })
	for e, name := range envNames[:1+r.IntN(3)] {
		env := schema.Environment{Name: name}
		switch r.IntN(5) {
		case 0:
			env.Active = &schema.Window{Until: schema.MustTime("2027-04-01")} // ended
		case 1:
			env.Active = &schema.Window{From: schema.MustTime("2027-09-01")} // scheduled
		}
		for k := 0; k < 1+r.IntN(2); k++ {
			nw := schema.Network{Name: fmt.Sprintf("net%d", k), Subnet: fmt.Sprintf("198.19.%d.0/24", e*4+k)}
			if r.IntN(4) == 0 {
				nw.MTU = 1400
			}
			env.Networks = append(env.Networks, nw)
		}
		used := map[string]bool{}
		for g := 0; g < 1+r.IntN(3); g++ {
			grp := schema.Group{Name: fmt.Sprintf("g%d", g), Image: images[r.IntN(len(images))], Command: []string{"sleep", "infinity"}}
			if r.IntN(2) == 0 {
				grp.Replicas = 1 + r.IntN(5)
			} else {
				for m := 0; m < 1+r.IntN(6); m++ {
					grp.Members = append(grp.Members, fmt.Sprintf("s%d", r.IntN(20)))
				}
				grp.Members = dedup(grp.Members)
			}
			if r.IntN(2) == 0 {
				grp.Placement.Sites = []string{t.Sites[r.IntN(3)].Name}
			}
			if r.IntN(2) == 0 {
				grp.Placement.Strategy = "pack"
			}
			grp.Networks = []schema.Attachment{{Network: env.Networks[r.IntN(len(env.Networks))].Name}}
			if r.IntN(3) == 0 {
				// A single instance at a static address of the network's
				// static block: addresses move between groups over steps.
				grp.Replicas, grp.Members = 1, nil
				n := grp.Networks[0].Network
				for {
					addr := fmt.Sprintf("%s%d", strings.TrimSuffix(netByName(env, n).Subnet, "0/24"), 2+r.IntN(4))
					if !used[n+addr] {
						used[n+addr] = true
						grp.Networks[0].Address = addr
						break
					}
				}
			}
			if r.IntN(2) == 0 {
				grp.Volumes = []schema.Volume{{Name: "home", Path: "/home"}}
			}
			env.Groups = append(env.Groups, grp)
		}
		t.Environments = append(t.Environments, env)
	}
	return t
}

func netByName(e schema.Environment, name string) schema.Network {
	for _, n := range e.Networks {
		if n.Name == name {
			return n
		}
	}
	return schema.Network{}
}

func dedup(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// drift changes a host behind Rensei's back.
func drift(r *rand.Rand, h *fake.Host, obs plan.HostState) {
	switch r.IntN(4) {
	case 0:
		if len(obs.Containers) > 0 {
			h.Remove("container", obs.Containers[r.IntN(len(obs.Containers))].Name)
		}
	case 1:
		if len(obs.Containers) > 0 {
			h.Stop(obs.Containers[r.IntN(len(obs.Containers))].Name)
		}
	case 2:
		if len(obs.Tunnels) > 0 {
			h.MutateTunnel(obs.Tunnels[r.IntN(len(obs.Tunnels))].Name, func(t *drivers.Tunnel) {
				t.Bridge, t.MTU, t.Peers = "", 1300, t.Peers[:0]
			})
		}
	case 3:
		if len(obs.Tunnels) > 0 {
			h.Remove("tunnel", obs.Tunnels[0].Name)
		}
	}
}

// TestConvergence drives fake hosts through random sequences of desired
// states and drift: after every apply, a second plan must be empty.
func TestConvergence(t *testing.T) {
	ctx := context.Background()
	for seed := uint64(1); seed <= 300; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, seed*7919))
			fakes := map[string]*fake.Host{}
			hosts := map[string]drivers.Host{}
			for _, s := range []string{"campus", "cloud", "backup"} {
				for h := 0; h < 2; h++ {
					key := fmt.Sprintf("%s/h%d", s, h)
					fakes[key] = fake.New(key)
					hosts[key] = fakes[key].Drivers()
					fakes[key].AddUnowned("someone-elses", "nginx")
				}
			}
			for step := 0; step < 8; step++ {
				topo := randomTopology(r)
				if err := schema.Validate(topo); err != nil {
					t.Fatalf("generator made an invalid topology: %v", err)
				}
				want, err := place.Place(topo, place.Options{Commit: fmt.Sprint(step), Now: now})
				if err != nil {
					t.Fatalf("place: %v", err)
				}
				live := map[string]drivers.Host{}
				for _, h := range want.Hosts {
					live[h.Key] = hosts[h.Key]
				}
				p := plan.Compute(want, engine.Observe(ctx, live))
				if _, err := apply.Apply(ctx, p, live, apply.Options{}); err != nil {
					t.Fatalf("step %d: apply: %v\nplan:\n%s", step, err, render(p))
				}
				again := plan.Compute(want, engine.Observe(ctx, live))
				if !again.Empty() {
					t.Fatalf("step %d: not converged, second plan:\n%s\nstate:\n%s", step, render(again), state(fakes))
				}
				for key, h := range fakes {
					if !strings.Contains(h.Render(), "container someone-elses image=nginx running=true owned=false") {
						t.Fatalf("%s: unowned container was touched:\n%s", key, h.Render())
					}
				}
				obs := engine.Observe(ctx, live)
				for _, key := range slices.Sorted(maps.Keys(live)) {
					drift(r, fakes[key], obs[key])
				}
			}
		})
	}
}

func render(p plan.Plan) string {
	var b strings.Builder
	for _, s := range p.Steps {
		b.WriteString(s.String() + "\n")
	}
	return b.String()
}

func state(fakes map[string]*fake.Host) string {
	var b strings.Builder
	for _, h := range fakes {
		b.WriteString(h.Render())
	}
	return b.String()
}

// TestScopesShareHosts: two deployments (scopes) on the same hosts never
// take each other's containers, networks or tunnels for stale.
func TestScopesShareHosts(t *testing.T) {
	ctx := context.Background()
	hosts := map[string]drivers.Host{}
	for _, k := range []string{"campus/h0", "cloud/h0"} {
		hosts[k] = fake.New(k).Drivers()
	}
	topo := func(env, subnet string, vni int) *schema.Topology {
		return &schema.Topology{
			Sites: []schema.Site{
				{Name: "campus", Hosts: []schema.Host{{Name: "h0", Docker: "unix:///x1", Underlay: "198.18.0.1"}}},
				{Name: "cloud", Hosts: []schema.Host{{Name: "h0", Docker: "unix:///x2", Underlay: "198.18.0.2"}}},
			},
			Environments: []schema.Environment{{Name: env,
				Networks: []schema.Network{{Name: "lan", Subnet: subnet, VNI: vni}},
				Groups:   []schema.Group{{Name: "g", Image: "b", Replicas: 6, Networks: []schema.Attachment{{Network: "lan"}}}}}},
		}
	}
	converge := func(scope string, tp *schema.Topology) plan.Plan {
		want, err := place.Place(tp, place.Options{Now: now, Scope: scope})
		if err != nil {
			t.Fatal(err)
		}
		p := plan.Compute(want, engine.ObserveScope(ctx, hosts, scope))
		if _, err := apply.Apply(ctx, p, hosts, apply.Options{}); err != nil {
			t.Fatal(err)
		}
		return plan.Compute(want, engine.ObserveScope(ctx, hosts, scope))
	}
	a, b := topo("physics", "198.19.1.0/24", 101), topo("chem", "198.19.2.0/24", 102)
	if again := converge("dept-a", a); !again.Empty() {
		t.Fatalf("dept-a not converged: %v", again.Steps)
	}
	if again := converge("dept-b", b); !again.Empty() {
		t.Fatalf("dept-b not converged: %v", again.Steps)
	}
	// Each deployment's next plan is empty: neither deleted the other's objects.
	for scope, tp := range map[string]*schema.Topology{"dept-a": a, "dept-b": b} {
		want, _ := place.Place(tp, place.Options{Now: now, Scope: scope})
		if p := plan.Compute(want, engine.ObserveScope(ctx, hosts, scope)); !p.Empty() {
			t.Errorf("%s plans changes after the other scope applied: %v", scope, p.Steps)
		}
	}
}
