package fleet_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/daemon"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/test/fakeengine"
	"github.com/rensei-dev/rensei/test/gittest"
)

// fleetScope is the deployment of every fleet: nothing of another scope on
// an engine (or, for a daemon running as root, a device in this machine's
// namespace) is ever touched.
const fleetScope = "rensei-fleet"

// fleetFiles is a config repository for f: a site per engine (one host
// each, its Docker endpoint the engine's socket) and per engine one course
// of students students, one container each, on one network (so no
// overlay spans hosts and no tunnel is wanted).
func fleetFiles(f *fleet, students int) map[string]string {
	var sites []string
	for i, e := range f.engines {
		sites = append(sites, fmt.Sprintf("  { name: 's%03d', hosts: [{ name: 'h', docker: '%s', capacity: { cpus: 1000, memory: '4000Gi', containers: 1000 } }] }", i, e.Host()))
	}
	files := map[string]string{
		"sites/fleet.jsonnet":   "[\n" + strings.Join(sites, ",\n") + "\n]\n",
		"policy/deploy.jsonnet": fmt.Sprintf("{ deployment: '%s' }\n", fleetScope),
	}
	for i := range f.engines {
		files[fmt.Sprintf("environments/c%03d.jsonnet", i)] = courseFile(i, students)
	}
	return files
}

// courseFile is course i with n students, on site i.
func courseFile(i, n int) string {
	return fmt.Sprintf(`{
  name: 'c%03d',
  networks: [{ name: 'lab', subnet: '10.%d.%d.0/20', hostPrefix: 21 }],
  groups: [{
    name: 'ws',
    image: %q,
    command: ['sleep', 'infinity'],
    members: ['s' + i for i in std.range(10000, %d)],
    placement: { sites: ['s%03d'] },
    resources: { cpus: 0.1, memory: '64Mi' },
    networks: [{ network: 'lab' }],
  }],
}
`, i, i/16, (i%16)*16, busybox, 10000+n-1, i)
}

// fleetDaemon is a daemon in this process managing a fleet through a
// config repository on disk, connected as `rensei daemon` connects
// (ConnectWatching, the cache on) but without tunnels.
type fleetDaemon struct {
	fleet *fleet
	repo  *gittest.Repo
	d     *daemon.Daemon
}

func newFleetDaemon(tb testing.TB, engines, students int, cache engine.CacheOptions) *fleetDaemon {
	tb.Helper()
	f := newFleet(tb, engines, fakeengine.Options{})
	repo := gittest.New(tb)
	repo.Push("fleet", fleetFiles(f, students))
	remote, err := gitrepo.OpenRemote(repo.Bare(), tb.TempDir(), gitrepo.Credentials{})
	if err != nil {
		tb.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{
		Remote: remote, Publisher: &status.Publisher{Remote: remote}, Interval: time.Hour,
		Connect: engine.ConnectWatchingWith(engine.WatchOptions{NoTunnels: true, Cache: cache}),
		Apply:   applyOptions(), Log: testLog(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Close)
	return &fleetDaemon{fleet: f, repo: repo, d: d}
}

// converge runs passes until one finds nothing to do.
func (fd *fleetDaemon) converge(tb testing.TB, ctx context.Context) {
	tb.Helper()
	for i := 0; i < 5; i++ {
		if fd.d.Pass(ctx) == daemon.ResultConverged {
			return
		}
	}
	tb.Fatal("the fleet did not converge in 5 passes")
}

// containers counts the containers of every engine.
func (fd *fleetDaemon) containers() int {
	n := 0
	for _, e := range fd.fleet.engines {
		n += len(e.Containers())
	}
	return n
}

// TestFleetDaemon: a daemon converges 20 simulated hosts, repairs drift
// made through several engines' API at once (woken by their events), and
// then passes with nothing to do ask no engine anything but its ref check.
func TestFleetDaemon(t *testing.T) {
	fd := newFleetDaemon(t, 20, 10, engine.CacheOptions{})
	ctx := testCtx(t, 2*time.Minute)
	fd.converge(t, ctx)
	if n := fd.containers(); n != 200 {
		t.Fatalf("%d containers, want 200", n)
	}
	for i := 0; i < 20; i += 4 {
		name := fmt.Sprintf("c%03d_ws_s10003", i)
		if err := fd.fleet.engines[i].Exit(name, 137); err != nil {
			t.Fatal(err)
		}
		if err := fd.fleet.clients[i].ContainerRemove(ctx, fmt.Sprintf("c%03d_ws_s10005", i), containerRemoveForce); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // the events arrive
	if got := fd.d.Pass(ctx); got != daemon.ResultChanged {
		t.Fatalf("pass after drift: %s, want %s", got, daemon.ResultChanged)
	}
	if n := fd.containers(); n != 200 {
		t.Fatalf("%d containers after the repair, want 200", n)
	}
	fd.converge(t, ctx)
	lists := func() int {
		n := 0
		for _, e := range fd.fleet.engines {
			n += e.Calls("ContainerList") + e.Calls("NetworkList") + e.Calls("VolumeList") + e.Calls("Ping")
		}
		return n
	}
	before := lists()
	for range 3 {
		if got := fd.d.Pass(ctx); got != daemon.ResultConverged {
			t.Fatalf("idle pass: %s", got)
		}
	}
	if got := lists() - before; got != 0 {
		t.Errorf("idle passes sent %d lists and pings to the engines, want 0", got)
	}
}

// benchFleet is the benchmark fleet: 100 simulated hosts with 200
// containers each, converged by a daemon. (Benchmarks use b.Loop, so it is
// made once per benchmark.)
func benchFleet(b *testing.B) *fleetDaemon {
	start := time.Now()
	fd := newFleetDaemon(b, 100, 200, engine.CacheOptions{})
	fd.converge(b, context.Background())
	if n := fd.containers(); n != 20000 {
		b.Fatalf("%d containers, want 20000", n)
	}
	b.Logf("100 hosts, 20,000 containers converged in %s", time.Since(start).Round(time.Second))
	return fd
}

// BenchmarkFleetIdlePass: a daemon pass with nothing to do over 100
// simulated hosts and 20,000 containers (ref check, observation from the
// cache, plan, reports unchanged): wall, CPU and allocations per pass.
func BenchmarkFleetIdlePass(b *testing.B) {
	fd := benchFleet(b)
	ctx := context.Background()
	fd.d.Pass(ctx) // the echo of the setup's own changes
	before := fd.d.Stats()
	cpu := cpuTime(b)
	b.ReportAllocs()
	for b.Loop() {
		if got := fd.d.Pass(ctx); got != daemon.ResultConverged {
			b.Fatalf("idle pass: %s", got)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/float64(b.N)/1000, "cpu-ms/op")
	if after := fd.d.Stats(); after.Evaluations != before.Evaluations || after.Fetches != before.Fetches {
		b.Fatalf("idle passes did work: %+v → %+v", before, after)
	}
}

// BenchmarkFleetPushOneStudent: a push adding one student to one course
// of the fleet, then daemon passes until converged: the time from the
// pushed ref to the container made and the reports written.
func BenchmarkFleetPushOneStudent(b *testing.B) {
	fd := benchFleet(b)
	ctx := context.Background()
	fd.d.Pass(ctx)
	students := 200
	for b.Loop() {
		students++
		fd.repo.Push("one more student", map[string]string{"environments/c042.jsonnet": courseFile(42, students)})
		for j := 0; ; j++ {
			if got := fd.d.Pass(ctx); got == daemon.ResultConverged {
				break
			}
			if j == 5 {
				b.Fatal("not converged in 5 passes")
			}
		}
	}
	b.StopTimer()
	if n := len(fd.fleet.engines[42].Containers()); n != students {
		b.Fatalf("%d containers on the course's host, want %d", n, students)
	}
}

// cpuTime is this process's user plus system CPU time.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
