package fleet_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/schema"
	"github.com/rensei-dev/rensei/test/fakeengine"
)

var now = time.Date(2027, 5, 1, 12, 0, 0, 0, time.UTC)

// sitesOf is one site per engine, named s0, s1, ...
func sitesOf(f *fleet) []schema.Site {
	var sites []schema.Site
	for i, e := range f.engines {
		sites = append(sites, schema.Site{Name: fmt.Sprintf("s%d", i), Hosts: []schema.Host{{Name: "h", Docker: e.Host(), Underlay: fmt.Sprintf("198.18.0.%d", i+1)}}})
	}
	return sites
}

// randomEnvironments is 1–3 environments of 1–2 networks and 1–3 groups
// with random sizes, placements, volumes and static addresses.
func randomEnvironments(r *rand.Rand, sites []schema.Site) []schema.Environment {
	var out []schema.Environment
	names := []string{"cs101", "spark", "hpc", "web"}
	r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	for e, name := range names[:1+r.IntN(3)] {
		env := schema.Environment{Name: name}
		if r.IntN(6) == 0 {
			env.Active = &schema.Window{Until: schema.MustTime("2027-04-01")} // ended
		}
		for k := 0; k < 1+r.IntN(2); k++ {
			env.Networks = append(env.Networks, schema.Network{Name: fmt.Sprintf("net%d", k), Subnet: fmt.Sprintf("198.19.%d.0/24", e*4+k)})
		}
		used := map[string]bool{}
		for g := 0; g < 1+r.IntN(3); g++ {
			grp := schema.Group{Name: fmt.Sprintf("g%d", g), Image: busybox, Command: []string{"sleep", "infinity"}, Restart: "unless-stopped"}
			if r.IntN(2) == 0 {
				grp.Replicas = 1 + r.IntN(5)
			} else {
				seen := map[string]bool{}
				for m := 0; m < 1+r.IntN(6); m++ {
					if id := fmt.Sprintf("s%d", r.IntN(20)); !seen[id] {
						seen[id] = true
						grp.Members = append(grp.Members, id)
					}
				}
			}
			if r.IntN(2) == 0 {
				grp.Placement.Sites = []string{sites[r.IntN(len(sites))].Name}
			}
			grp.Command = append(grp.Command, fmt.Sprint(r.IntN(3))) // a changed command replaces
			net := env.Networks[r.IntN(len(env.Networks))]
			grp.Networks = []schema.Attachment{{Network: net.Name}}
			if r.IntN(3) == 0 {
				grp.Replicas, grp.Members = 1, nil
				for {
					addr := fmt.Sprintf("%s%d", strings.TrimSuffix(net.Subnet, "0/24"), 2+r.IntN(4))
					if !used[net.Name+addr] {
						used[net.Name+addr] = true
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
		out = append(out, env)
	}
	return out
}

// TestCacheOnEngines drives simulated engines through random desired
// states and drift made through the engines' own API (containers removed,
// stopped, paused, crashed, disconnected; an engine down and back), with
// the hosts connected as the daemon connects them (ConnectWatching, the
// cache on): every pass converges, and the cache agrees with the engines
// (listed without it) after every pass.
func TestCacheOnEngines(t *testing.T) {
	seeds := uint64(12)
	if testing.Short() {
		seeds = 3
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { cacheOnEngines(t, seed) })
	}
}

func cacheOnEngines(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed*7919))
	f := newFleet(t, 3, fakeengine.Options{})
	ctx := testCtx(t, 2*time.Minute)
	sites := sitesOf(f)
	const scope = "fleet-test"
	hosts, wake, err := engine.ConnectWatchingWith(engine.WatchOptions{NoTunnels: true})(ctx, &schema.Topology{Sites: sites}, nil, scope, testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hosts.Close() })
	// The truth: the same engines, connected without the cache.
	truth, _, err := engine.ConnectWatchingWith(engine.WatchOptions{NoTunnels: true, Cache: engine.CacheOptions{Off: true}})(ctx, &schema.Topology{Sites: sites}, nil, scope, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { truth.Close() })

	// pass runs a pass, which must converge, and returns what the hosts hold after it.
	pass := func(what string, want *place.Desired) plan.Observed {
		t.Helper()
		out := engine.Pass(ctx, want, hosts, engine.Options{})
		if err := out.Err(); err != nil || !out.Converged() {
			t.Fatalf("%s: pass did not converge: %v\nremaining:\n%s", what, err, render(out.Remaining))
		}
		live := engine.ObserveScope(ctx, truth.Drivers, scope)
		sameObserved(t, engine.ObserveScope(ctx, hosts.Drivers, scope), live)
		return live
	}
	for step := 0; step < 6; step++ {
		topo := &schema.Topology{Sites: sites, Environments: randomEnvironments(r, sites)}
		if err := schema.Validate(topo); err != nil {
			t.Fatalf("generator made an invalid topology: %v", err)
		}
		want, err := place.Place(topo, place.Options{Commit: fmt.Sprint(step), Now: now, Scope: scope})
		if err != nil {
			t.Fatalf("place: %v", err)
		}
		live := pass(fmt.Sprintf("step %d", step), want)
		settle(t, wake, 0, 300*time.Millisecond) // the echo of the pass's own changes
		// Drift, through each engine's API, then the pass its events wake.
		drifted := false
		for i, e := range f.engines {
			key := sites[i].Name + "/h"
			cs := live[key].Containers
			if len(cs) == 0 {
				continue
			}
			name := cs[r.IntN(len(cs))].Name
			cli := f.clients[i]
			switch r.IntN(6) {
			case 0:
				err = cli.ContainerRemove(ctx, name, container.RemoveOptions{Force: true})
			case 1:
				err = cli.ContainerStop(ctx, name, container.StopOptions{})
			case 2:
				err = cli.ContainerPause(ctx, name)
			case 3:
				err = e.Exit(name, 137) // a crash: unless-stopped restarts it
			case 4:
				err = disconnectAll(ctx, cli, name)
			case 5:
				continue
			}
			if err != nil {
				t.Fatalf("drift on %s: %v", key, err)
			}
			drifted = true
		}
		if drifted {
			settle(t, wake, 10*time.Second, 300*time.Millisecond)
			pass(fmt.Sprintf("step %d, after drift", step), want)
		}
		if step == 3 {
			// An engine goes down (its streams break) and comes back.
			f.engines[0].Down()
			settle(t, wake, 10*time.Second, 300*time.Millisecond)
			down := engine.Pass(ctx, want, hosts, engine.Options{})
			if !down.Remaining.Down(sites[0].Name + "/h") {
				t.Fatalf("engine down, yet the pass saw it:\n%s", render(down.Remaining))
			}
			if err := f.engines[0].Up(); err != nil {
				t.Fatal(err)
			}
			settle(t, wake, 45*time.Second, 300*time.Millisecond)
			pass("engine back", want)
			if s := hosts.CacheStats(); s.Gaps == 0 {
				t.Errorf("cache stats %+v: the engine going down is no gap", s)
			}
		}
	}
	if s := hosts.CacheStats(); s.Hits == 0 || s.Stale != 0 {
		t.Errorf("cache stats %+v: want hits, nothing stale", s)
	}
}

// disconnectAll disconnects a container from every network it is on.
func disconnectAll(ctx context.Context, cli *client.Client, name string) error {
	c, err := cli.ContainerInspect(ctx, name)
	if err != nil {
		return err
	}
	for n := range c.NetworkSettings.Networks {
		if err := cli.NetworkDisconnect(ctx, n, name, true); err != nil {
			return err
		}
	}
	return nil
}
