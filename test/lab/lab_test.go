package lab

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/test/images"
)

func testOpts(t *testing.T, sites int) Options {
	o, err := Options{Sites: sites, Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// freshLab is labtest.ForTest for this package's own tests (which cannot
// import labtest): a new lab, removed when the test ends.
func freshLab(t *testing.T, sites int) (*Status, Options) {
	t.Helper()
	if why := Missing(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: a missing prerequisite is a failure)", why)
		}
		t.Skip(why)
	}
	opts := testOpts(t, sites)
	st, release, err := Fresh(t.Context(), opts)
	t.Cleanup(func() {
		if err := release(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, opts
}

func dockerOf(t *testing.T, s Site) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.WithHost(s.Docker), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// pingFrom pings addr from inside the namespace ns.
func pingFrom(ns, addr string) error {
	out, err := exec.Command("nsenter", "--net="+netnsDir+"/"+ns, images.BusyboxPath, "ping", "-c", "1", "-W", "2", addr).CombinedOutput()
	if err != nil {
		return &exec.Error{Name: "ping " + addr + " from " + ns + ": " + strings.TrimSpace(string(out)), Err: err}
	}
	return nil
}

// runSleeper starts a managed container that sleeps, with no network.
func runSleeper(t *testing.T, cli *client.Client, name string, restart container.RestartPolicyMode) string {
	t.Helper()
	ctx := t.Context()
	c, err := cli.ContainerCreate(ctx, &container.Config{
		Image:  images.Busybox,
		Cmd:    []string{"sleep", "3600"},
		Labels: map[string]string{ManagedLabel: "true"},
	}, &container.HostConfig{NetworkMode: "none", RestartPolicy: container.RestartPolicy{Name: restart}}, &network.NetworkingConfig{}, nil, name)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return c.ID
}

func mustObserve(t *testing.T, opts Options) *Status {
	t.Helper()
	st, err := Observe(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func siteOf(t *testing.T, st *Status, name string) Site {
	t.Helper()
	s, ok := st.Site(name)
	if !ok {
		b, _ := json.Marshal(st)
		t.Fatalf("status has no %s: %s", name, b)
	}
	return s
}

// assertNothingLeft checks that no trace of any lab remains.
func assertNothingLeft(t *testing.T) {
	t.Helper()
	if ents, err := os.ReadDir(netnsDir); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), netnsPrefix) {
				t.Errorf("netns %s left", e.Name())
			}
		}
	}
	for _, name := range linkNames("", "rs-wan") {
		t.Errorf("link %s left", name)
	}
	for _, p := range processes() {
		for _, a := range p.args {
			if strings.Contains(a, DefaultStateDir) || strings.Contains(a, DefaultDataDir) {
				t.Errorf("process %d (%s) left: %s", p.pid, p.comm, strings.Join(p.args, " "))
				break
			}
		}
	}
	for _, dir := range []string{DefaultStateDir, DefaultDataDir} {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s left", dir)
		}
	}
	if m := mountsUnder([]string{DefaultStateDir, DefaultDataDir}); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
}

func TestLab(t *testing.T) {
	start := time.Now()
	st, opts := freshLab(t, 2)
	t.Logf("up, 2 sites, cold: %s", time.Since(start))
	ctx := t.Context()

	if len(st.Sites) != 2 {
		t.Fatalf("up returned %d sites, want 2", len(st.Sites))
	}
	for _, s := range st.Sites {
		if !s.Up {
			t.Fatalf("%s not up: %s", s.Name, s.Error)
		}
		if _, err := dockerOf(t, s).ImageInspect(ctx, images.Busybox); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
	if a := siteOf(t, st, "site-a"); a.Netns != "rs-lab-a" || a.Underlay != "198.18.0.1" || a.Docker != "unix:///run/rensei-lab/site-a/docker.sock" {
		t.Errorf("site-a names: %+v", a)
	}
	if err := pingFrom("rs-lab-a", "198.18.0.2"); err != nil {
		t.Fatal(err)
	}

	t.Run("up again is harmless and fast", func(t *testing.T) {
		before := map[string][]int{}
		for _, s := range firstSites(opts, 2) {
			before[s.name] = dockerdPids(s)
		}
		start := time.Now()
		if _, err := Up(ctx, opts); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		t.Logf("up, 2 sites, warm: %s", took)
		if took > 5*time.Second {
			t.Errorf("second up took %s", took)
		}
		for _, s := range firstSites(opts, 2) {
			if got := dockerdPids(s); !slices.Equal(got, before[s.name]) || len(got) != 1 {
				t.Errorf("%s: dockerd pids %v, before %v", s.name, got, before[s.name])
			}
		}
	})

	t.Run("status lists sites and managed containers", func(t *testing.T) {
		runSleeper(t, dockerOf(t, siteOf(t, st, "site-a")), "lab-sleeper", container.RestartPolicyDisabled)
		got := mustObserve(t, Options{})
		if len(got.Sites) != 2 {
			t.Fatalf("status: %d sites, want 2", len(got.Sites))
		}
		a := siteOf(t, got, "site-a")
		if !a.Up || a.DockerVersion == "" || !slices.Equal(a.Containers, []string{"lab-sleeper"}) {
			t.Errorf("site-a: %+v", a)
		}
		if b := siteOf(t, got, "site-b"); !b.Up || len(b.Containers) != 0 {
			t.Errorf("site-b: %+v", b)
		}
		if _, err := json.Marshal(got); err != nil {
			t.Error(err)
		}
	})

	t.Run("stop and start a site", func(t *testing.T) {
		cli := dockerOf(t, siteOf(t, st, "site-a"))
		keeper := runSleeper(t, cli, "lab-keeper", container.RestartPolicyUnlessStopped)
		if err := StopSite(ctx, opts, "site-a"); err != nil {
			t.Fatal(err)
		}
		if a := siteOf(t, mustObserve(t, opts), "site-a"); a.Up {
			t.Errorf("site-a up after StopSite: %+v", a)
		}
		if b := siteOf(t, mustObserve(t, opts), "site-b"); !b.Up {
			t.Errorf("site-b down after stopping site-a: %+v", b)
		}
		if err := StartSite(ctx, opts, "site-a"); err != nil {
			t.Fatal(err)
		}
		a := siteOf(t, mustObserve(t, opts), "site-a")
		if !a.Up || !slices.Equal(a.Containers, []string{"lab-keeper", "lab-sleeper"}) {
			t.Errorf("site-a after StartSite: %+v", a)
		}
		// A power cut, not a docker stop: a restart policy brings it back.
		if c, err := cli.ContainerInspect(ctx, keeper); err != nil || !c.State.Running {
			t.Errorf("lab-keeper not running after StartSite: %v", err)
		}
	})

	t.Run("down leaves nothing", func(t *testing.T) {
		start := time.Now()
		if err := Down(ctx, opts); err != nil {
			t.Fatal(err)
		}
		t.Logf("down, 2 sites: %s", time.Since(start))
		assertNothingLeft(t)
	})
}

// TestRepairAndBrokenDown breaks a lab the way crashes and careless hands
// do: a dockerd killed with its containers still running, a veth deleted, a
// namespace name deleted under a running dockerd. Up must repair it and
// Down must remove it even when broken again.
func TestRepairAndBrokenDown(t *testing.T) {
	st, opts := freshLab(t, 2)
	ctx := t.Context()
	b := siteNamedT(t, "site-b")
	runSleeper(t, dockerOf(t, siteOf(t, st, "site-b")), "lab-sleeper-b", container.RestartPolicyUnlessStopped)

	breakLab := func() {
		t.Helper()
		for _, pid := range dockerdPids(b) {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitGone(ctx, []int{pid}, 5*time.Second)
		}
		a := siteNamedT(t, "site-a")
		if err := deleteVeth(a); err != nil {
			t.Fatal(err)
		}
		// The name goes; the namespace lives on around site-a's dockerd.
		if err := deleteNetns(a); err != nil {
			t.Fatal(err)
		}
	}

	breakLab()
	if got := siteOf(t, mustObserve(t, opts), "site-b"); got.Up {
		t.Fatalf("site-b up after kill: %+v", got)
	}
	if _, err := os.Stat(netnsDir + "/rs-lab-a"); err == nil {
		t.Fatal("rs-lab-a still there")
	}
	start := time.Now()
	st, err := Up(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("up, repairing: %s", time.Since(start))
	for _, s := range st.Sites {
		if !s.Up {
			t.Errorf("%s not up after repair: %s", s.Name, s.Error)
		}
	}
	if err := pingFrom("rs-lab-a", "198.18.0.2"); err != nil {
		t.Fatal(err)
	}
	if pids := dockerdPids(siteNamedT(t, "site-a")); len(pids) != 1 || !inNetns(pids[0], netnsDir+"/rs-lab-a") {
		t.Errorf("site-a dockerd %v not in the new rs-lab-a", pids)
	}

	breakLab()
	if err := Down(ctx, opts); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t)
}

func siteNamedT(t *testing.T, name string) site {
	t.Helper()
	o, _ := Options{}.withDefaults()
	s, err := siteNamed(o, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSiteNames(t *testing.T) {
	o, _ := Options{}.withDefaults()
	for _, tc := range []struct {
		in       string
		name, ns string
		underlay string
		ok       bool
	}{
		{"site-a", "site-a", "rs-lab-a", "198.18.0.1/24", true},
		{"c", "site-c", "rs-lab-c", "198.18.0.3/24", true},
		{"site-h", "site-h", "rs-lab-h", "198.18.0.8/24", true},
		{"site-i", "", "", "", false},
		{"site-", "", "", "", false},
		{"host", "", "", "", false},
	} {
		s, err := siteNamed(o, tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.in, err)
			continue
		}
		if tc.ok && (s.name != tc.name || s.netns != tc.ns || s.underlay.String() != tc.underlay) {
			t.Errorf("%s: got %s %s %s", tc.in, s.name, s.netns, s.underlay)
		}
	}
	if _, err := (Options{Sites: MaxSites + 1}).withDefaults(); err == nil {
		t.Error("9 sites accepted")
	}
}

// testWriter sends the lab's log lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
