package daemon_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/daemon"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/test/lab/labtest"
)

// idleLabEnv is 50 overlay networks, each with four containers at site-a
// and one at site-b: 200 managed containers and 50 tunnels on site-a.
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

// cpuTime is this process's user plus system CPU time.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIdlePassLab: a pass with nothing to do against real engines and
// real netlink, with 200 managed containers and 50 tunnels on site-a (and
// 50 containers and 50 tunnels on site-b): wall time, the daemon's CPU
// time and allocations per pass. Setting it up starts 250 containers.
func BenchmarkIdlePassLab(b *testing.B) {
	st := labtest.ForTest(b, 2)
	// The lab's two sites without site-configs/lab.jsonnet's capacity
	// (50 containers a host): this benchmark wants 200 on one.
	var sites []string
	for _, s := range st.Sites {
		sites = append(sites, fmt.Sprintf("{ name: %q, hosts: [{ name: 'docker', docker: %q, underlay: %q, netns: %q }] }", s.Name, s.Docker, s.Underlay, s.Netns))
	}
	repo := newConfigRepo(b)
	repo.push("idle", map[string]string{"sites/lab.jsonnet": "[\n" + strings.Join(sites, ",\n") + "\n]\n", "environments/idle.jsonnet": idleLabEnv()})
	remote, err := gitrepo.OpenRemote(repo.bare, b.TempDir(), gitrepo.Credentials{})
	if err != nil {
		b.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{Remote: remote, Publisher: &status.Publisher{Remote: remote}, Interval: time.Hour,
		Hosts: []string{"site-a/docker", "site-b/docker"}, Log: newDaemonLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 5 && d.Pass(ctx) != daemon.ResultConverged; i++ {
	}
	if got := d.Pass(ctx); got != daemon.ResultConverged {
		b.Fatalf("the lab did not converge: %s", got)
	}
	before := d.Stats()
	cpu := cpuTime(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if got := d.Pass(ctx); got != daemon.ResultConverged {
			b.Fatalf("idle pass: %s", got)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/float64(b.N)/1000, "cpu-ms/op")
	// Memory after all these passes (the test binary's, an upper bound on
	// the daemon's own).
	b.ReportMetric(float64(heapInUse())/(1<<20), "heap-inuse-MB")
	b.ReportMetric(float64(procStatus(b, "VmRSS"))/1024, "rss-MB")
	if after := d.Stats(); after.Evaluations != before.Evaluations || after.Commits != before.Commits || after.Fetches != before.Fetches {
		b.Fatalf("idle passes did work: %+v → %+v", before, after)
	}
}
