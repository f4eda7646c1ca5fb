package daemon_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/daemon"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/test/lab/labtest"
)

// BenchmarkRepairOnLab measures drift repair driven by events alone: the
// daemon's interval is an hour, so only Docker events and netlink link
// updates can start the pass that repairs. Per iteration it deletes a
// tunnel's head-end FDB entry for a peer (bridge fdb del), removes a
// managed container (docker rm -f) and deletes the tunnel (ip link del),
// each timed until it is back; it reports the medians.
func BenchmarkRepairOnLab(b *testing.B) {
	st := labtest.ForTest(b, 3)
	sites, err := os.ReadFile("../../site-configs/lab.jsonnet")
	if err != nil {
		b.Fatal(err)
	}
	repo := newConfigRepo(b)
	head := repo.push("six members", map[string]string{"sites/lab.jsonnet": string(sites), "environments/burst.jsonnet": burstEnv(6)})
	remote, err := gitrepo.OpenRemote(repo.bare, b.TempDir(), gitrepo.Credentials{})
	if err != nil {
		b.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{Remote: remote, Publisher: &status.Publisher{Remote: remote}, Interval: time.Hour, Log: newDaemonLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	run(b, d)
	eventually(b, time.Minute, "converged at "+head, func() bool {
		rs := repo.reports()
		if len(rs) != 3 {
			return false
		}
		for _, r := range rs {
			if r.Commit != head || !r.Converged {
				return false
			}
		}
		return true
	})
	siteA, _ := st.Site("site-a")
	tunnel := ""
	for _, f := range strings.Fields(string(mustRun(b, "ip", "-n", siteA.Netns, "-o", "link", "show", "type", "vxlan"))) {
		if strings.HasPrefix(f, "rs-vx-") {
			tunnel = strings.TrimSuffix(f, ":")
		}
	}
	if tunnel == "" {
		b.Fatal("no tunnel at site-a")
	}
	peer := ""
	for _, l := range strings.Split(string(mustRun(b, "bridge", "-n", siteA.Netns, "fdb", "show", "dev", tunnel)), "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "00:00:00:00:00:00" && f[1] == "dst" {
			peer = f[2]
			break
		}
	}
	if peer == "" {
		b.Fatalf("no head-end FDB entry on %s at site-a", tunnel)
	}
	hasPeer := func() bool {
		out, err := exec.Command("bridge", "-n", siteA.Netns, "fdb", "show", "dev", tunnel).Output()
		return err == nil && strings.Contains(string(out), "00:00:00:00:00:00 dst "+peer+" ")
	}
	var containerTimes, fdbTimes, tunnelTimes []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// First, after converging or a tunnel's repair, when the last the
		// watch heard of the tunnel was its bridge's port messages, and
		// once the daemon is quiet: a pass that Docker events start
		// anyway would repair the entry and hide a watch that missed it.
		eventually(b, 30*time.Second, "the FDB entry to "+peer+" on "+tunnel, hasPeer)
		b.StopTimer()
		quiet(d)
		b.StartTimer()
		start := time.Now()
		mustRun(b, "bridge", "-n", siteA.Netns, "fdb", "del", "00:00:00:00:00:00", "dev", tunnel, "dst", peer)
		eventually(b, 30*time.Second, "the FDB entry to "+peer+" back on "+tunnel, hasPeer)
		fdbTimes = append(fdbTimes, time.Since(start))

		var victim string
		for name := range managedOn(b, siteA) {
			victim = name
			break
		}
		start = time.Now()
		mustRun(b, "docker", "-H", siteA.Docker, "rm", "-f", victim)
		eventually(b, 30*time.Second, victim+" back", func() bool {
			states := managedOn(b, siteA)[victim]
			return len(states) == 1 && states[0] == "running"
		})
		containerTimes = append(containerTimes, time.Since(start))

		start = time.Now()
		mustRun(b, "ip", "-n", siteA.Netns, "link", "del", tunnel)
		eventually(b, 30*time.Second, tunnel+" back on its bridge", func() bool {
			out, err := exec.Command("ip", "-n", siteA.Netns, "-o", "link", "show", tunnel).Output()
			return err == nil && strings.Contains(string(out), "master rs-br-")
		})
		tunnelTimes = append(tunnelTimes, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(containerTimes)
	slices.Sort(fdbTimes)
	slices.Sort(tunnelTimes)
	b.ReportMetric(float64(percentile(containerTimes, 50).Milliseconds()), "container-repair-ms")
	b.ReportMetric(float64(percentile(fdbTimes, 50).Milliseconds()), "fdb-repair-ms")
	b.ReportMetric(float64(percentile(tunnelTimes, 50).Milliseconds()), "tunnel-repair-ms")
}

// quiet returns once the daemon has started no pass for a second.
func quiet(d *daemon.Daemon) {
	for before := d.Stats(); ; before = d.Stats() {
		time.Sleep(time.Second)
		if d.Stats().Passes == before.Passes {
			return
		}
	}
}

func mustRun(tb testing.TB, name string, args ...string) []byte {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}
