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
// updates can start the pass that repairs. Per iteration it removes a
// managed container (docker rm -f) and, separately, deletes a tunnel (ip
// link del), each timed until it is back; it reports the medians.
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
	var containerTimes, tunnelTimes []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var victim string
		for name := range managedOn(b, siteA) {
			victim = name
			break
		}
		start := time.Now()
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
	slices.Sort(tunnelTimes)
	b.ReportMetric(float64(percentile(containerTimes, 50).Milliseconds()), "container-repair-ms")
	b.ReportMetric(float64(percentile(tunnelTimes, 50).Milliseconds()), "tunnel-repair-ms")
}

func mustRun(tb testing.TB, name string, args ...string) []byte {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}
