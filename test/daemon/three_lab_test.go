package daemon_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/test/lab/labtest"
)

// burstEnv is an environment of n members spread over the three lab sites
// on one overlay network.
func burstEnv(n int) string {
	members := make([]string, n)
	for i := range members {
		members[i] = fmt.Sprintf("m%02d", i)
	}
	return `local r = import 'rensei.libsonnet';
{
  name: 'burst',
  networks: [r.network('lan', '198.19.45.0/24')],
  groups: [{
    name: 'ws',
    image: 'rensei/busybox:latest',
    command: ['sleep', 'infinity'],
    members: ` + jsonList(members) + `,
    networks: [{ network: 'lan' }],
    resources: { cpus: 0.1, memory: '32Mi' },
  }],
}
`
}

// TestThreeDaemonsOnLab: one daemon per lab site (--hosts), all sharing one
// remote, under a burst of pushes. Every host converges to the last
// commit, every host's latest report is on the status branch (none lost
// or overwritten by another daemon's), and the branch passes git fsck.
func TestThreeDaemonsOnLab(t *testing.T) {
	st := labtest.ForTest(t, 3)
	bin := buildRensei(t)
	sites, err := os.ReadFile("../../site-configs/lab.jsonnet")
	if err != nil {
		t.Fatalf("the lab's site definitions: %v", err)
	}
	repo := newConfigRepo(t)
	repo.push("three members", map[string]string{"sites/lab.jsonnet": string(sites), "environments/burst.jsonnet": burstEnv(3)})
	daemons := map[string]*daemonProc{}
	for _, s := range st.Sites {
		args := []string{"daemon", "--repo", repo.bare, "--hosts", s.Name + "/docker", "--interval", "1s",
			"--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--state-dir", t.TempDir(), "--log-level", "info", "--log-format", "text"}
		daemons[s.Name] = startDaemon(t, "the daemon of "+s.Name, bin, args...)
	}
	// The burst: eight commits, each adding a member, as fast as git pushes.
	var head string
	for n := 4; n <= 11; n++ {
		head = repo.push(fmt.Sprintf("member %d", n), map[string]string{"environments/burst.jsonnet": burstEnv(n)})
	}
	start := time.Now()
	eventually(t, 2*time.Minute, "every host's report converged at the last commit "+head, func() bool {
		rs := repo.reports()
		if len(rs) != len(st.Sites) {
			return false
		}
		for _, r := range rs {
			if r.Commit != head || !r.Converged {
				return false
			}
		}
		return true
	})
	t.Logf("burst of 8 pushes to three hosts converged and reported: %s after the last push; %d status commits",
		time.Since(start).Round(time.Millisecond), repo.statusCommits())

	// Every member runs exactly once across the sites.
	count := map[string]int{}
	for _, s := range st.Sites {
		for name, states := range managedOn(t, s) {
			for _, state := range states {
				if state != "running" {
					t.Errorf("%s on %s is %s", name, s.Name, state)
				}
				count[name]++
			}
		}
	}
	for i := 0; i < 11; i++ {
		if name := fmt.Sprintf("burst_ws_m%02d", i); count[name] != 1 {
			t.Errorf("%s runs %d times", name, count[name])
		}
	}
	if len(count) != 11 {
		t.Errorf("%d managed containers, want 11: %v", len(count), count)
	}
	fsck := exec.Command("git", "-C", repo.bare, "fsck", "--strict")
	if out, err := fsck.CombinedOutput(); err != nil {
		t.Errorf("git fsck: %v\n%s", err, out)
	}
	// The whole config is converged as seen by a plan of every host.
	plan := exec.Command(bin, "plan", repo.bare, "--ref", "main", "--detailed-exitcode")
	if out, err := plan.CombinedOutput(); err != nil {
		t.Errorf("rensei plan --detailed-exitcode: %v\n%s", err, out)
	}

	// Drift with no push: site-b's tunnel deleted and one of its containers
	// removed. Events wake site-b's daemon; the repair is reported.
	siteB, _ := st.Site("site-b")
	links, err := exec.Command("ip", "-n", siteB.Netns, "-o", "link", "show", "type", "vxlan").Output()
	if err != nil {
		t.Fatalf("ip -n %s link: %v", siteB.Netns, err)
	}
	tunnels := strings.Fields(string(links))
	var tunnel string
	for _, f := range tunnels {
		if strings.HasPrefix(f, "rs-vx-") {
			tunnel = strings.TrimSuffix(f, ":")
			break
		}
	}
	if tunnel == "" {
		t.Fatalf("no tunnel on site-b: %v", tunnels)
	}
	var victim string
	for name := range managedOn(t, siteB) {
		victim = name
		break
	}
	logBefore := statusLog(t, repo)
	start = time.Now()
	if out, err := exec.Command("ip", "-n", siteB.Netns, "link", "del", tunnel).CombinedOutput(); err != nil {
		t.Fatalf("ip link del: %v\n%s", err, out)
	}
	if out, err := exec.Command("docker", "-H", siteB.Docker, "rm", "-f", victim).CombinedOutput(); err != nil {
		t.Fatalf("docker rm: %v\n%s", err, out)
	}
	// The two repairs may land in one pass or in two: each is reported in
	// the message of a status commit, and the last report is converged.
	eventually(t, 30*time.Second, "site-b's tunnel and "+victim+" repaired and reported", func() bool {
		if exec.Command("ip", "-n", siteB.Netns, "link", "show", tunnel).Run() != nil {
			return false
		}
		if states := managedOn(t, siteB)[victim]; len(states) != 1 || states[0] != "running" {
			return false
		}
		if r := repo.reports()["site-b/docker"]; r.Commit != head || !r.Converged {
			return false
		}
		log := statusLog(t, repo)
		return strings.Count(log, tunnel) > strings.Count(logBefore, tunnel) &&
			strings.Count(log, victim) > strings.Count(logBefore, victim)
	})
	t.Logf("tunnel deleted and container removed to both repaired and reported: %s", time.Since(start).Round(time.Millisecond))

	// rensei status reads the branch with plain Git objects.
	out, err := exec.Command(bin, "status", "--repo", repo.bare).CombinedOutput()
	if err != nil {
		t.Fatalf("rensei status: %v\n%s", err, out)
	}
	for _, s := range st.Sites {
		if !strings.Contains(string(out), s.Name+"/docker") {
			t.Errorf("rensei status lacks %s:\n%s", s.Name, out)
		}
	}

	// SIGTERM: the daemon stops on its own, cleanly and promptly.
	d := daemons["site-c"]
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
		if d.err != nil {
			t.Errorf("daemon exit after SIGTERM: %v", d.err)
		}
	case <-time.After(20 * time.Second):
		t.Error("daemon still running 20s after SIGTERM")
	}
}

// statusLog is every commit message of the status branch.
func statusLog(t *testing.T, repo *configRepo) string {
	t.Helper()
	out, err := exec.Command("git", "-C", repo.bare, "log", "--format=%B", "rensei/status").Output()
	if err != nil {
		t.Fatalf("git log rensei/status: %v", err)
	}
	return string(out)
}
