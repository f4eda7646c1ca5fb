package daemon_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/test/lab/labtest"
)

// leaseEnv is an environment of two sleeping containers on site-a.
func leaseEnv(name string) string {
	return fmt.Sprintf(`{
  name: '%s',
  groups: [{
    name: 'ws',
    image: 'rensei/busybox:latest',
    command: ['sleep', 'infinity'],
    members: ['m0', 'm1'],
    placement: { sites: ['site-a'] },
    resources: { cpus: 0.1, memory: '32Mi' },
  }],
}
`, name)
}

// TestOneDaemonPerHost runs two real daemon processes against one lab
// host, enforcing two branches of one repository (a staging branch with an
// extra environment): the second leaves the host alone while the first
// holds its lease, says which daemon holds it and is not ready; killed
// without releasing, the first is taken over only once its lease expired,
// and the second then converges the host without touching what was there.
// A third daemon on the first's state directory is refused at start.
func TestOneDaemonPerHost(t *testing.T) {
	st := labtest.ForTest(t, 3)
	siteA, ok := st.Site("site-a")
	if !ok {
		t.Fatal("the lab has no site-a")
	}
	bin := buildRensei(t)
	sites, err := os.ReadFile("../../site-configs/lab.jsonnet")
	if err != nil {
		t.Fatal(err)
	}
	repo := newConfigRepo(t)
	repo.push("lease x", map[string]string{"sites/lab.jsonnet": string(sites), "environments/lx.jsonnet": leaseEnv("lx")})
	repo.Commit("lease y on staging", map[string]string{"environments/ly.jsonnet": leaseEnv("ly")})
	repo.Git("push", "-q", "origin", "HEAD:staging")
	t.Cleanup(func() {
		for _, c := range []string{"lx_ws_m0", "lx_ws_m1", "ly_ws_m0", "ly_ws_m1"} {
			exec.Command("docker", "-H", siteA.Docker, "rm", "-f", c).Run()
		}
	})

	const lease = 4 * time.Second
	daemonArgs := func(branch, state, addr string) []string {
		return []string{"daemon", "--repo", repo.bare, "--branch", branch, "--hosts", "site-a/docker", "--interval", "1s",
			"--lease", lease.String(), "--listen", addr, "--state-dir", state, "--log-level", "info", "--log-format", "text"}
	}
	stateA := t.TempDir()
	addrA, addrB := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	first := startDaemon(t, "the daemon enforcing main", bin, daemonArgs("main", stateA, addrA)...)
	eventually(t, 2*time.Minute, "lx running on site-a", func() bool {
		got := managedOn(t, siteA)
		return len(got["lx_ws_m0"]) == 1 && len(got["lx_ws_m1"]) == 1
	})
	ids := containerIDs(t, siteA.Docker, "lx_ws_m0", "lx_ws_m1")

	// Same state directory: refused at once, naming the holder.
	third := exec.Command(bin, daemonArgs("main", stateA, fmt.Sprintf("127.0.0.1:%d", freePort(t)))...)
	out, err := third.CombinedOutput()
	if err == nil {
		t.Fatal("a second daemon on the same state directory started")
	}
	if want := fmt.Sprintf("state directory %s is in use by the daemon with pid %d", stateA, first.cmd.Process.Pid); !strings.Contains(string(out), want) {
		t.Errorf("refusal %q does not say %q", out, want)
	}

	second := startDaemon(t, "the daemon enforcing staging", bin, daemonArgs("staging", t.TempDir(), addrB)...)
	eventually(t, time.Minute, "the second daemon names the holder", func() bool {
		return strings.Contains(second.log.String(), `host held by another daemon`) &&
			strings.Contains(second.log.String(), `the daemon enforcing \"main\"`) &&
			strings.Contains(second.log.String(), fmt.Sprintf("(pid %d)", first.cmd.Process.Pid))
	})
	// Several passes of both daemons: the host stays the first one's.
	time.Sleep(3 * time.Second)
	got := managedOn(t, siteA)
	if _, ok := got["ly_ws_m0"]; ok {
		t.Fatalf("the second daemon created ly on a host the first holds: %v", got)
	}
	if now := containerIDs(t, siteA.Docker, "lx_ws_m0", "lx_ws_m1"); !slices.Equal(ids, now) {
		t.Fatalf("lx containers replaced while the first daemon held the host: %v → %v", ids, now)
	}
	code, body := get(t, "http://"+addrB+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "held by another daemon") {
		t.Errorf("/readyz of the second daemon: %d %q, want 503 naming the holder", code, body)
	}

	// The first dies without releasing: no takeover before its lease expires.
	first.kill(t)
	killed := time.Now()
	eventually(t, 2*time.Minute, "ly running on site-a after the takeover", func() bool {
		got := managedOn(t, siteA)
		return len(got["ly_ws_m0"]) == 1 && len(got["ly_ws_m1"]) == 1
	})
	took := time.Since(killed)
	t.Logf("taken over %s after the kill (lease %s)", took.Round(time.Millisecond), lease)
	if !strings.Contains(second.log.String(), "host taken over") {
		t.Error("the second daemon did not log the takeover")
	}
	if now := containerIDs(t, siteA.Docker, "lx_ws_m0", "lx_ws_m1"); !slices.Equal(ids, now) {
		t.Errorf("lx containers replaced by the takeover: %v → %v", ids, now)
	}
	// The takeover is on the status branch, after the first one's lease expired.
	msgs := repo.git(repo.bare, "log", "--format=%B", "rensei/status")
	m := regexp.MustCompile(`site-a/docker taken over \(the lease of the daemon enforcing "main" on .* \(pid \d+\) expired (\S+)\)`).FindStringSubmatch(msgs)
	if m == nil {
		t.Fatalf("no takeover commit on the status branch:\n%s", msgs)
	}
	expired, err := time.Parse(time.RFC3339, m[1])
	if err != nil {
		t.Fatal(err)
	}
	var l status.Lease
	if err := json.Unmarshal([]byte(repo.git(repo.bare, "show", "rensei/status:leases/site-a/docker.json")), &l); err != nil {
		t.Fatal(err)
	}
	if l.Holder.Branch != "staging" || l.Since.Before(expired) {
		t.Errorf("lease now %+v: want the staging daemon's, taken at or after %s", l, expired)
	}
	eventually(t, time.Minute, "/readyz of the second daemon 200", func() bool {
		code, _ := get(t, "http://"+addrB+"/readyz")
		return code == http.StatusOK
	})
}

// containerIDs returns the IDs of containers on a Docker endpoint.
func containerIDs(t *testing.T, host string, names ...string) []string {
	t.Helper()
	out := mustRun(t, "docker", append([]string{"-H", host, "inspect", "--format", "{{.Id}}"}, names...)...)
	return strings.Fields(string(out))
}

// get fetches url and returns the status and body ("" and 0 on error).
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
