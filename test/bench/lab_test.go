package bench

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/schema"
	"github.com/rensei-dev/rensei/test/images"
	"github.com/rensei-dev/rensei/test/lab"
	"github.com/rensei-dev/rensei/test/lab/labtest"
)

// labSites is the Jsonnet of the lab's sites without the capacity
// site-configs/lab.jsonnet declares (50 containers a host).
func labSites(st *lab.Status) string {
	var sites []string
	for _, s := range st.Sites {
		sites = append(sites, fmt.Sprintf("{ name: %q, hosts: [{ name: 'docker', docker: %q, underlay: %q, netns: %q }] }", s.Name, s.Docker, s.Underlay, s.Netns))
	}
	return "[\n" + strings.Join(sites, ",\n") + "\n]\n"
}

// idleLabEnv is test/daemon's idle environment: 50 overlay networks, each
// with four containers at site-a and one at site-b: 200 managed
// containers and 50 tunnels on site-a, 50 and 50 on site-b.
func idleLabEnv() string {
	var nets, groups []string
	for i := 0; i < 50; i++ {
		nets = append(nets, fmt.Sprintf("{ name: 'n%02d', subnet: '198.19.%d.0/24' }", i, 100+i))
		groups = append(groups,
			fmt.Sprintf("{ name: 'a%02d', image: 'rensei/busybox:latest', command: ['sleep', 'infinity'], replicas: 4, placement: { sites: ['site-a'] }, networks: [{ network: 'n%02d' }] }", i, i),
			fmt.Sprintf("{ name: 'b%02d', image: 'rensei/busybox:latest', command: ['sleep', 'infinity'], replicas: 1, placement: { sites: ['site-b'] }, networks: [{ network: 'n%02d' }] }", i, i))
	}
	return "{\n  name: 'idle',\n  networks: [\n    " + strings.Join(nets, ",\n    ") + "\n  ],\n  groups: [\n    " + strings.Join(groups, ",\n    ") + "\n  ],\n}\n"
}

// loadLab loads files as a revision and places it now.
func loadLab(b *testing.B, files fstest.MapFS) (*engine.Revision, *place.Desired) {
	b.Helper()
	rev, err := engine.Load(context.Background(), engine.Source{FS: files, Commit: "lab"}, nil, schema.Options{}, "")
	if err != nil {
		b.Fatal(err)
	}
	want, err := rev.At(time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return rev, want
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEngineIdlePassLab is the engine's share of an idle daemon pass
// on the lab (real engines, real netlink): engine.Pass with nothing to do
// over 200 containers and 50 tunnels on site-a (50 and 50 on site-b),
// sticky placement on, the hosts connected as the daemon connects them,
// with the watch-fed cache (the default) and without it. cache-replan
// gives each pass a copy of the desired state, so it is observed (from
// the cache) and planned again rather than answered from the memo of the
// last idle pass: what the first pass after a change costs.
func BenchmarkEngineIdlePassLab(b *testing.B) {
	st := labtest.ForTest(b, 2)
	rev, want := loadLab(b, fstest.MapFS{"sites/lab.jsonnet": {Data: []byte(labSites(st))}, "environments/idle.jsonnet": {Data: []byte(idleLabEnv())}})
	ctx := context.Background()
	opts := engine.Options{Place: func(p place.Pins) (*place.Desired, error) { return rev.AtPinned(time.Now(), p) }}
	for _, mode := range []string{"cache", "cache-replan", "no-cache"} {
		b.Run(mode, func(b *testing.B) {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			hosts, _, err := engine.ConnectWatchingWith(engine.WatchOptions{Cache: engine.CacheOptions{Off: mode == "no-cache"}})(wctx, rev.Topology, nil, rev.Scope, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer hosts.Close()
			for i := 0; ; i++ {
				out := engine.Pass(ctx, want, hosts, opts)
				if out.Converged() && out.Plan.Empty() {
					break
				}
				if i == 5 {
					b.Fatalf("the lab did not converge: %v", out.Err())
				}
			}
			time.Sleep(2 * time.Second) // the echo of the setup's own changes (bridges come up a second late)
			engine.Pass(ctx, want, hosts, opts)
			cpu := cpuTime(b)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := want
				if mode == "cache-replan" {
					c := *want
					w = &c
				}
				if out := engine.Pass(ctx, w, hosts, opts); !out.Plan.Empty() {
					b.Fatalf("idle pass planned:\n%v", out.Plan.Steps)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/float64(b.N)/1000, "cpu-ms/op")
			s := hosts.CacheStats()
			b.ReportMetric(float64(s.Stale), "stale")
		})
	}
}

// labPerSite is how many containers each lab site starts in
// BenchmarkLabConverge.
const labPerSite = 40

// dockerRate starts n busybox containers on one engine with `docker run
// -d` four at a time (on a network of its own) and removes them the same
// way: the engine's own rates, containers per second.
func dockerRate(b *testing.B, host string, n int, tag string) (up, down float64) {
	b.Helper()
	net := "rsbench-" + tag
	name := func(i int) string { return fmt.Sprintf("rsbench-%s-%03d", tag, i) }
	start := time.Now()
	sh(b, "docker", "-H", host, "network", "create", "--subnet", "198.19.251.0/24", net)
	fourAtATime(b, n, func(i int) error {
		if out, err := exec.Command("docker", "-H", host, "run", "-d", "--name", name(i), "--network", net,
			images.Busybox, "sleep", "3600").CombinedOutput(); err != nil {
			return fmt.Errorf("docker run %s: %v: %s", name(i), err, out)
		}
		return nil
	})
	up = float64(n) / time.Since(start).Seconds()
	start = time.Now()
	fourAtATime(b, n, func(i int) error {
		if out, err := exec.Command("docker", "-H", host, "rm", "-f", name(i)).CombinedOutput(); err != nil {
			return fmt.Errorf("docker rm -f %s: %v: %s", name(i), err, out)
		}
		return nil
	})
	sh(b, "docker", "-H", host, "network", "rm", net)
	down = float64(n) / time.Since(start).Seconds()
	return up, down
}

// BenchmarkLabConverge: the three lab sites converging at once (one
// environment of labPerSite containers at each site on one overlay, up
// then down, through engine.Pass) against the sum of the three engines'
// own rates, each measured alone with `docker run -d` four at a time.
func BenchmarkLabConverge(b *testing.B) {
	st := labtest.ForTest(b, 3)
	var groups []string
	for _, s := range st.Sites {
		groups = append(groups, fmt.Sprintf("{ name: 'w%s', image: %q, command: ['sleep', '3600'], replicas: %d, placement: { sites: [%q] }, networks: [{ network: 'lan' }] }",
			strings.TrimPrefix(s.Name, "site-"), images.Busybox, labPerSite, s.Name))
	}
	env := fmt.Sprintf("{\n  name: 'conv',\n  networks: [{ name: 'lan', subnet: '198.19.60.0/22' }],\n  groups: [\n    %s\n  ],\n}\n", strings.Join(groups, ",\n    "))
	files := fstest.MapFS{"sites/lab.jsonnet": {Data: []byte(labSites(st))}, "environments/conv.jsonnet": {Data: []byte(env)}}
	rev, up := loadLab(b, files)
	delete(files, "environments/conv.jsonnet")
	_, down := loadLab(b, files)
	ctx := context.Background()
	hosts, _, err := engine.ConnectWatching(ctx, rev.Topology, nil, rev.Scope, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer hosts.Close()

	var baseUp, baseDown, allUp, allDown float64
	var renseiUp, renseiDown time.Duration
	for b.Loop() {
		b.StopTimer()
		for _, s := range st.Sites { // one engine at a time: each one's own rate
			u, d := dockerRate(b, s.Docker, labPerSite, strings.TrimPrefix(s.Name, "site-"))
			baseUp, baseDown = baseUp+u, baseDown+d
		}
		// The same, on the three engines at once: what this machine gives
		// three engines sharing its cores.
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, s := range st.Sites {
			wg.Go(func() {
				u, d := dockerRate(b, s.Docker, labPerSite, "all"+strings.TrimPrefix(s.Name, "site-"))
				mu.Lock()
				allUp, allDown = allUp+u, allDown+d
				mu.Unlock()
			})
		}
		wg.Wait()
		b.StartTimer()
		start := time.Now()
		if out := engine.Pass(ctx, up, hosts, engine.Options{}); !out.Converged() {
			b.Fatalf("up: %v", out.Err())
		}
		renseiUp += time.Since(start)
		start = time.Now()
		if out := engine.Pass(ctx, down, hosts, engine.Options{}); !out.Converged() {
			b.Fatalf("down: %v", out.Err())
		}
		renseiDown += time.Since(start)
	}
	n := float64(b.N)
	total := float64(labPerSite * len(st.Sites))
	rUp, rDown := total*n/renseiUp.Seconds(), total*n/renseiDown.Seconds()
	b.ReportMetric(rUp, "rensei-up/s")
	b.ReportMetric(baseUp/n, "sum-engines-up/s")
	b.ReportMetric(rUp/(baseUp/n), "up-ratio")
	b.ReportMetric(rDown, "rensei-down/s")
	b.ReportMetric(baseDown/n, "sum-engines-down/s")
	b.ReportMetric(rDown/(baseDown/n), "down-ratio")
	b.ReportMetric(allUp/n, "engines-at-once-up/s")
	b.ReportMetric(rUp/(allUp/n), "up-vs-at-once")
	b.Logf("%d containers over 3 sites at once: up %.1f/s against the engines' own %.1f/s summed (%.2f×, target ≥ 0.9) and %.1f/s for docker run on all three at once (%.2f×); down %.1f/s against %.1f/s summed (%.2f×) and %.1f/s at once (%.2f×)",
		int(total), rUp, baseUp/n, rUp/(baseUp/n), allUp/n, rUp/(allUp/n), rDown, baseDown/n, rDown/(baseDown/n), allDown/n, rDown/(allDown/n))
}
