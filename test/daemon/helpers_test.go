// Package daemon_test drives rensei's daemon end to end through real bare
// Git repositories: with fake hosts injected (fast, deterministic) and on
// the emulated lab's real Docker engines.
package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/fake"
	"github.com/rensei-dev/rensei/reconcile/daemon"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/schema"
	"github.com/rensei-dev/rensei/test/gittest"
)

// configRepo is a bare remote and a work tree that pushes to it.
type configRepo struct {
	*gittest.Repo
	t    testing.TB
	bare string
}

func newConfigRepo(t testing.TB) *configRepo {
	t.Helper()
	g := gittest.New(t)
	return &configRepo{Repo: g, t: t, bare: g.Bare()}
}

// git runs git in dir.
func (r *configRepo) git(dir string, args ...string) string {
	r.t.Helper()
	return gittest.Run(r.t, dir, args...)
}

// push writes files (path → content; "" deletes), commits and pushes; it
// returns the new commit.
func (r *configRepo) push(msg string, files map[string]string) string {
	r.t.Helper()
	return r.Push(msg, files)
}

// reports reads the status branch, as `rensei status` does.
func (r *configRepo) reports() map[string]status.Report {
	r.t.Helper()
	repo, err := gitrepo.Open(r.bare)
	if err != nil {
		r.t.Fatal(err)
	}
	rev, err := repo.Resolve(status.DefaultBranch)
	if err != nil {
		return nil
	}
	list, err := status.Read(rev.FS)
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string]status.Report{}
	for _, x := range list {
		out[x.Key()] = x
	}
	return out
}

// statusCommits counts the commits of the status branch (0 when absent).
func (r *configRepo) statusCommits() int {
	r.t.Helper()
	cmd := exec.Command("git", "rev-list", "--count", status.DefaultBranch)
	cmd.Dir = r.bare
	out, err := cmd.Output()
	if err != nil {
		return 0
	}
	var n int
	fmt.Sscan(string(out), &n)
	return n
}

// fakeSites is a sites file of three sites with one host each.
const fakeSites = `local r = import 'rensei.libsonnet';
[
  r.site('site-' + s, [r.host('docker', docker='unix:///nonexistent/' + s + '.sock', underlay='198.18.0.' + n)])
  for s in ['a', 'b', 'c'] for n in [{a: 1, b: 2, c: 3}[s]]
]
`

// course is an environment with one container per member, spread over the sites.
func course(members ...string) string {
	if len(members) == 0 {
		return "{ name: 'course', groups: [] }\n" // the semester is over: nobody left
	}
	return fmt.Sprintf(`{
  name: 'course',
  groups: [{ name: 'lab', image: 'rensei/busybox:latest', members: %s, command: ['sleep', 'infinity'] }],
}
`, jsonList(members))
}

func jsonList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// fakeFleet is three fake hosts and a ConnectFunc that hands them out.
type fakeFleet struct {
	hosts map[string]*fake.Host
}

func newFakeFleet() *fakeFleet {
	f := &fakeFleet{hosts: map[string]*fake.Host{}}
	for _, s := range []string{"a", "b", "c"} {
		key := "site-" + s + "/docker"
		f.hosts[key] = fake.New(key)
	}
	return f
}

func (f *fakeFleet) connect(_ context.Context, topo *schema.Topology, only []string, scope string, _ *slog.Logger) (*engine.Hosts, <-chan struct{}, error) {
	out := &engine.Hosts{Drivers: map[string]drivers.Host{}, Scope: scope}
	for _, s := range topo.Sites {
		for _, h := range s.Hosts {
			key := s.Name + "/" + h.Name
			if len(only) > 0 && !contains(only, key) && !contains(only, h.Name) {
				continue
			}
			fh, ok := f.hosts[key]
			if !ok {
				return nil, nil, fmt.Errorf("no fake host %s", key)
			}
			out.Drivers[key] = fh.DriversFor(scope)
		}
	}
	return out, nil, nil
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// containers lists the owned containers of every fake host, "host: name".
func (f *fakeFleet) containers(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, key := range []string{"site-a/docker", "site-b/docker", "site-c/docker"} {
		cs, err := f.hosts[key].Drivers().Containers.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			out = append(out, key+": "+c.Name)
		}
	}
	return out
}

// where returns the fake host holding the container named name.
func (f *fakeFleet) where(t testing.TB, name string) *fake.Host {
	t.Helper()
	for _, h := range f.hosts {
		cs, _ := h.Drivers().Containers.List(context.Background())
		for _, c := range cs {
			if c.Name == name {
				return h
			}
		}
	}
	t.Fatalf("container %s is on no host", name)
	return nil
}

// newDaemon builds a daemon on the fleet, with its own state directory.
func newDaemon(t testing.TB, repo *configRepo, fleet *fakeFleet, mod func(*daemon.Config)) *daemon.Daemon {
	t.Helper()
	remote, err := gitrepo.OpenRemote(repo.bare, t.TempDir(), gitrepo.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := daemon.Config{
		Remote:    remote,
		Publisher: &status.Publisher{Remote: remote, Backoff: 5 * time.Millisecond, Attempts: 50},
		Interval:  time.Hour,
		Connect:   fleet.connect,
		Log:       newDaemonLogger(t),
	}
	if mod != nil {
		mod(&cfg)
	}
	d, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// run starts d.Run and stops it when the test ends (also on failure).
func run(t testing.TB, d *daemon.Daemon) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("daemon did not stop within 30s")
		}
	})
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newDaemonLogger sends the daemon's log to the test log.
func newDaemonLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
