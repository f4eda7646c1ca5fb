package engine_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/fake"
	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/schema"
)

// cachedFakes is fake hosts behind a cache, with their raw drivers for
// the truth. Their "watch" is the test: it tells the cache what it changed.
type cachedFakes struct {
	fakes  map[string]*fake.Host
	raw    map[string]drivers.Host
	cached map[string]drivers.Host
	cache  *engine.Cache
	wakes  atomic.Int64
}

func newCachedFakes(keys ...string) *cachedFakes {
	cf := &cachedFakes{fakes: map[string]*fake.Host{}, raw: map[string]drivers.Host{}, cached: map[string]drivers.Host{}}
	cf.cache = engine.NewCache(engine.CacheOptions{}, nil, func() { cf.wakes.Add(1) })
	for _, k := range keys {
		cf.fakes[k] = fake.New(k)
		cf.raw[k] = cf.fakes[k].Drivers()
		cf.cached[k] = cf.cache.Wrap(k, cf.raw[k])
		cf.cache.Watching(k, "test", true)
	}
	return cf
}

// hosts wraps the fakes with the cache as one deployment's hosts, their
// watches up.
func (cf *cachedFakes) hosts() *engine.Hosts {
	hosts := cf.cache.Hosts(cf.raw, "")
	for k := range cf.raw {
		cf.cache.Watching(k, "test", true)
	}
	return hosts
}

// courseOnCache is a six-student course for two cached fake hosts.
func courseOnCache(t *testing.T) (*cachedFakes, *engine.Hosts, *place.Desired) {
	t.Helper()
	cf := newCachedFakes("campus/h0", "cloud/h0")
	want, err := place.Place(courseTopology(6), place.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return cf, cf.hosts(), want
}

func (cf *cachedFakes) lists(key string) int {
	n := 0
	for call, c := range cf.fakes[key].Calls {
		if strings.HasSuffix(call, ".list") {
			n += c
		}
	}
	return n
}

// courseTopology is one environment of n students over two hosts.
func courseTopology(n int) *schema.Topology {
	var members []string
	for i := range n {
		members = append(members, fmt.Sprintf("s%02d", i))
	}
	return &schema.Topology{
		Sites: []schema.Site{
			{Name: "campus", Hosts: []schema.Host{{Name: "h0", Docker: "unix:///x1", Underlay: "198.18.0.1"}}},
			{Name: "cloud", Hosts: []schema.Host{{Name: "h0", Docker: "unix:///x2", Underlay: "198.18.0.2"}}},
		},
		Environments: []schema.Environment{{Name: "cs101",
			Networks: []schema.Network{{Name: "lan", Subnet: "198.19.1.0/24"}},
			Groups: []schema.Group{{Name: "ws", Image: "b", Members: members, Networks: []schema.Attachment{{Network: "lan"}},
				Volumes: []schema.Volume{{Name: "home", Path: "/home"}}}}}},
	}
}

func converge(t *testing.T, hosts map[string]drivers.Host, want *place.Desired) {
	t.Helper()
	ctx := context.Background()
	p := plan.Compute(want, engine.Observe(ctx, hosts))
	if _, err := apply.Apply(ctx, p, hosts, apply.Options{}); err != nil {
		t.Fatal(err)
	}
	if again := plan.Compute(want, engine.Observe(ctx, hosts)); !again.Empty() {
		t.Fatalf("not converged:\n%s", render(again))
	}
}

// TestCacheIdleReadsMemory: once converged, passes with nothing to do ask
// no host anything, and the cache's answers are the hosts' own.
func TestCacheIdleReadsMemory(t *testing.T) {
	cf := newCachedFakes("campus/h0", "cloud/h0")
	want, err := place.Place(courseTopology(6), place.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	converge(t, cf.cached, want)
	ctx := context.Background()
	engine.Observe(ctx, cf.cached) // the echo of apply's own changes
	before := cf.lists("campus/h0") + cf.lists("cloud/h0")
	for range 5 {
		if p := plan.Compute(want, engine.Observe(ctx, cf.cached)); !p.Empty() {
			t.Fatalf("idle plan not empty:\n%s", render(p))
		}
	}
	if after := cf.lists("campus/h0") + cf.lists("cloud/h0"); after != before {
		t.Errorf("idle passes made %d list calls, want 0", after-before)
	}
	sameObserved(t, engine.Observe(ctx, cf.cached), engine.Observe(ctx, cf.raw))
	if s := cf.cache.Stats(); s.Hits == 0 || s.Stale != 0 {
		t.Errorf("stats %+v: want hits and nothing stale", s)
	}
}

// TestCacheEventRelists: a change the watch reports is listed again, only
// for its kind and host.
func TestCacheEventRelists(t *testing.T) {
	cf := newCachedFakes("campus/h0", "cloud/h0")
	want, err := place.Place(courseTopology(6), place.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	converge(t, cf.cached, want)
	ctx := context.Background()
	obs := engine.Observe(ctx, cf.cached)
	victim := obs["campus/h0"].Containers[0].Name
	cf.fakes["campus/h0"].Remove("container", victim)
	cf.cache.Changed("campus/h0", engine.ContainersChanged)
	campus, cloud := cf.fakes["campus/h0"].Calls["container.list"], cf.fakes["cloud/h0"].Calls["container.list"]
	p := plan.Compute(want, engine.Observe(ctx, cf.cached))
	if p.Changes() != 1 || p.Steps[0].Name != victim {
		t.Fatalf("plan after the removal of %s:\n%s", victim, render(p))
	}
	if got := cf.fakes["campus/h0"].Calls["container.list"] - campus; got != 1 {
		t.Errorf("campus listed containers %d times, want 1", got)
	}
	if got := cf.fakes["cloud/h0"].Calls["container.list"] - cloud; got != 0 {
		t.Errorf("cloud listed containers %d times, want 0", got)
	}
}

// TestCacheLooksUpChangedContainers: an event about one container, and
// Rensei's own change of one, take only that container again (a look-up,
// no list); the echo of a change already seen changes no version, so the
// pass after is still answered from memory.
func TestCacheLooksUpChangedContainers(t *testing.T) {
	cf, hosts, want := courseOnCache(t)
	ctx := context.Background()
	if out := engine.Pass(ctx, want, hosts, engine.Options{}); !out.Converged() {
		t.Fatalf("first pass:\n%s", render(out.Remaining))
	}
	obs := engine.Observe(ctx, hosts.Drivers)
	campus := obs["campus/h0"].Containers
	lists := func() int { return cf.lists("campus/h0") + cf.lists("cloud/h0") }
	before, idle := lists(), cf.cache.Stats().Idle
	truth := func() plan.Observed { // the fakes' own lists, not counted
		n := lists()
		defer func() { before += lists() - n }()
		return engine.Observe(ctx, cf.raw)
	}

	// The echo: events about containers as they are.
	cf.cache.ChangedContainers("campus/h0", campus[0].ID, campus[1].ID)
	if out := engine.Pass(ctx, want, hosts, engine.Options{}); !out.Plan.Empty() || cf.cache.Stats().Idle != idle+1 {
		t.Fatalf("the echo of a change already seen was not answered from memory (stats %+v):\n%s", cf.cache.Stats(), render(out.Plan))
	}
	// A container stopped and another removed behind Rensei's back.
	cf.fakes["campus/h0"].Stop(campus[0].Name)
	cf.fakes["campus/h0"].Remove("container", campus[1].Name)
	cf.cache.ChangedContainers("campus/h0", campus[0].ID)
	cf.cache.ChangedContainers("campus/h0", campus[1].ID)
	got := engine.Observe(ctx, hosts.Drivers)
	sameObserved(t, got, truth())
	out := engine.Pass(ctx, want, hosts, engine.Options{})
	if out.Plan.Changes() != 2 || !out.Converged() {
		t.Fatalf("pass after a stop and a removal:\n%s", render(out.Plan))
	}
	// Rensei's own changes were looked up by name: still no list, and
	// the pass after is answered from memory.
	engine.Pass(ctx, want, hosts, engine.Options{})
	if out := engine.Pass(ctx, want, hosts, engine.Options{}); !out.Plan.Empty() || cf.cache.Stats().Idle < idle+2 {
		t.Fatalf("not answered from memory after converging (stats %+v)", cf.cache.Stats())
	}
	if n := lists() - before; n != 0 {
		t.Errorf("%d list calls, want 0: changed containers are looked up", n)
	}
	if s := cf.cache.Stats(); s.Lookups == 0 {
		t.Errorf("stats %+v: no look-up", s)
	}
	sameObserved(t, engine.Observe(ctx, hosts.Drivers), truth())
}

// TestCacheMissedEvent: a change no event announced is found by the
// scheduled relist, counted, and wakes a pass; the next plan repairs it.
func TestCacheMissedEvent(t *testing.T) {
	cf := newCachedFakes("campus/h0", "cloud/h0")
	want, err := place.Place(courseTopology(6), place.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	converge(t, cf.cached, want)
	ctx := context.Background()
	obs := engine.Observe(ctx, cf.cached)
	cf.fakes["cloud/h0"].Stop(obs["cloud/h0"].Containers[0].Name) // no event
	if p := plan.Compute(want, engine.Observe(ctx, cf.cached)); !p.Empty() {
		t.Fatalf("the cache saw an unannounced change before its relist:\n%s", render(p))
	}
	cf.cache.Resync(ctx)
	if s := cf.cache.Stats(); s.Stale != 1 || s.Resyncs != 2 {
		t.Errorf("stats %+v: want one stale relist out of two", s)
	}
	if cf.wakes.Load() != 1 {
		t.Errorf("%d wake-ups, want 1", cf.wakes.Load())
	}
	if p := plan.Compute(want, engine.Observe(ctx, cf.cached)); p.Changes() != 1 {
		t.Fatalf("after the relist, plan:\n%s", render(p))
	}
}

// TestCacheWatchDown: while a host's watch is down every pass lists it;
// once back, memory answers again.
func TestCacheWatchDown(t *testing.T) {
	cf := newCachedFakes("campus/h0")
	ctx := context.Background()
	engine.Observe(ctx, cf.cached)
	cf.cache.Watching("campus/h0", "test", false)
	n := cf.lists("campus/h0")
	engine.Observe(ctx, cf.cached)
	engine.Observe(ctx, cf.cached)
	if got := cf.lists("campus/h0") - n; got != 8 {
		t.Errorf("%d list calls in two passes with the watch down, want 8", got)
	}
	cf.cache.Watching("campus/h0", "test", true)
	engine.Observe(ctx, cf.cached)
	n = cf.lists("campus/h0")
	engine.Observe(ctx, cf.cached)
	if got := cf.lists("campus/h0") - n; got != 0 {
		t.Errorf("%d list calls with the watch back, want 0", got)
	}
	cf.fakes["campus/h0"].SetDown(true)
	cf.cache.Changed("campus/h0", engine.AllChanged)
	if st := engine.Observe(ctx, cf.cached)["campus/h0"]; st.Err == nil {
		t.Error("a host that went down (with a gap) is still observed")
	}
	if s := cf.cache.Stats(); s.Gaps != 1 {
		t.Errorf("stats %+v: want one gap", s)
	}
}

// TestConvergenceCached is TestConvergence with every host behind the
// cache, its watch played by the drift itself: after every apply a second
// plan from the cache is empty, and the cache agrees with the hosts at
// every step.
func TestConvergenceCached(t *testing.T) {
	ctx := context.Background()
	for seed := uint64(1); seed <= 300; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, seed*7919))
			var keys []string
			for _, s := range []string{"campus", "cloud", "backup"} {
				for h := 0; h < 2; h++ {
					keys = append(keys, fmt.Sprintf("%s/h%d", s, h))
				}
			}
			cf := newCachedFakes(keys...)
			for _, f := range cf.fakes {
				f.AddUnowned("someone-elses", "nginx")
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
				live, truth := map[string]drivers.Host{}, map[string]drivers.Host{}
				for _, h := range want.Hosts {
					live[h.Key], truth[h.Key] = cf.cached[h.Key], cf.raw[h.Key]
				}
				obs := engine.Observe(ctx, live)
				sameObserved(t, obs, engine.Observe(ctx, truth))
				p := plan.Compute(want, obs)
				if _, err := apply.Apply(ctx, p, live, apply.Options{}); err != nil {
					t.Fatalf("step %d: apply: %v\nplan:\n%s", step, err, render(p))
				}
				obs = engine.Observe(ctx, live)
				sameObserved(t, obs, engine.Observe(ctx, truth))
				if again := plan.Compute(want, obs); !again.Empty() {
					t.Fatalf("step %d: not converged, second plan:\n%s\nstate:\n%s", step, render(again), state(cf.fakes))
				}
				for _, key := range slices.Sorted(maps.Keys(live)) {
					cachedDrift(r, cf, key, obs[key])
				}
			}
		})
	}
}

// containerChanged announces a change of one container as a watch does:
// by its ID (it is looked up), or as a change of the list (a relist).
func containerChanged(r *rand.Rand, cf *cachedFakes, key, id string) {
	if r.IntN(2) == 0 {
		cf.cache.ChangedContainers(key, id)
	} else {
		cf.cache.Changed(key, engine.ContainersChanged)
	}
}

// cachedDrift is drift, announced to the cache as the host's watch would.
func cachedDrift(r *rand.Rand, cf *cachedFakes, key string, obs plan.HostState) {
	h := cf.fakes[key]
	switch r.IntN(4) {
	case 0:
		if len(obs.Containers) > 0 {
			c := obs.Containers[r.IntN(len(obs.Containers))]
			h.Remove("container", c.Name)
			containerChanged(r, cf, key, c.ID)
		}
	case 1:
		if len(obs.Containers) > 0 {
			c := obs.Containers[r.IntN(len(obs.Containers))]
			h.Stop(c.Name)
			containerChanged(r, cf, key, c.ID)
		}
	case 2:
		if len(obs.Tunnels) > 0 {
			h.MutateTunnel(obs.Tunnels[r.IntN(len(obs.Tunnels))].Name, func(t *drivers.Tunnel) {
				t.Bridge, t.MTU, t.Peers = "", 1300, t.Peers[:0]
			})
			cf.cache.Changed(key, engine.TunnelsChanged)
		}
	case 3:
		if len(obs.Tunnels) > 0 {
			h.Remove("tunnel", obs.Tunnels[0].Name)
			cf.cache.Changed(key, engine.TunnelsChanged)
		}
	}
}

// sameObserved fails unless two observations hold the same objects.
func sameObserved(t *testing.T, got, want plan.Observed) {
	t.Helper()
	norm := func(o plan.Observed) string {
		var b strings.Builder
		for _, key := range slices.Sorted(maps.Keys(o)) {
			st := o[key]
			var lines []string
			for _, c := range st.Containers {
				lines = append(lines, fmt.Sprintf("container %s %s running=%v %v %v %v", c.Name, c.Image, c.Running, c.Labels, c.Networks, c.HostPorts))
			}
			for _, n := range st.Networks {
				lines = append(lines, fmt.Sprintf("network %+v", n))
			}
			for _, v := range st.Volumes {
				lines = append(lines, fmt.Sprintf("volume %+v", v))
			}
			for _, tu := range st.Tunnels {
				lines = append(lines, fmt.Sprintf("tunnel %+v", tu))
			}
			sort.Strings(lines)
			fmt.Fprintf(&b, "%s err=%v %+v\n  %s\n", key, st.Err, st.Status, strings.Join(lines, "\n  "))
		}
		return b.String()
	}
	if g, w := norm(got), norm(want); g != w {
		t.Fatalf("the cache disagrees with the hosts:\ncache:\n%s\nhosts:\n%s", g, w)
	}
}

// TestPassIdleMemo: passes with nothing to do while nothing changes are
// answered from memory (no list, no plan); a change, a new desired state
// or Rensei's own writes end that.
func TestPassIdleMemo(t *testing.T) {
	cf, hosts, want := courseOnCache(t)
	ctx := context.Background()
	if out := engine.Pass(ctx, want, hosts, engine.Options{}); !out.Converged() || len(out.Applied.Done) == 0 {
		t.Fatalf("first pass: converged %v, applied %d", out.Converged(), len(out.Applied.Done))
	}
	for range 3 {
		if out := engine.Pass(ctx, want, hosts, engine.Options{}); !out.Converged() || !out.Plan.Empty() {
			t.Fatalf("idle pass:\n%s", render(out.Plan))
		}
	}
	idle, lists := cf.cache.Stats().Idle, cf.lists("campus/h0")+cf.lists("cloud/h0")
	if idle < 1 {
		t.Errorf("%d idle passes answered from memory, want at least 1", idle)
	}
	out := engine.Pass(ctx, want, hosts, engine.Options{})
	if cf.cache.Stats().Idle != idle+1 || cf.lists("campus/h0")+cf.lists("cloud/h0") != lists || len(out.Observed["campus/h0"].Containers) == 0 {
		t.Errorf("an idle pass listed or planned: stats %+v, observed %d containers", cf.cache.Stats(), len(out.Observed["campus/h0"].Containers))
	}
	// A change the watch reports.
	victim := out.Observed["cloud/h0"].Containers[0].Name
	cf.fakes["cloud/h0"].Remove("container", victim)
	cf.cache.Changed("cloud/h0", engine.ContainersChanged)
	if out := engine.Pass(ctx, want, hosts, engine.Options{}); out.Plan.Changes() != 1 || !out.Converged() {
		t.Fatalf("pass after %s was removed:\n%s", victim, render(out.Plan))
	}
	// A new desired state (one student more) is planned.
	want2, err := place.Place(courseTopology(7), place.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	engine.Pass(ctx, want2, hosts, engine.Options{})
	engine.Pass(ctx, want2, hosts, engine.Options{})
	idle = cf.cache.Stats().Idle
	if out := engine.Pass(ctx, want, hosts, engine.Options{}); out.Plan.Changes() == 0 {
		t.Fatal("going back to the old desired state planned nothing")
	}
	if cf.cache.Stats().Idle != idle {
		t.Error("a pass of another desired state was answered from memory")
	}
	// A guard that holds is asked on idle passes too, with the plan as computed.
	engine.Pass(ctx, want, hosts, engine.Options{})
	engine.Pass(ctx, want, hosts, engine.Options{})
	asked := 0
	engine.Pass(ctx, want, hosts, engine.Options{Guard: func(p plan.Plan, _ plan.Observed) (plan.Plan, error) {
		asked++
		if !p.Empty() {
			t.Errorf("the guard got a plan with changes on an idle pass:\n%s", render(p))
		}
		return p, nil
	}})
	if asked != 1 {
		t.Errorf("guard asked %d times, want 1", asked)
	}
}
