package daemon_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/test/lab"
	"github.com/rensei-dev/rensei/test/lab/labtest"
)

// killMembers is the number of containers of the kill test's environment.
const killMembers = 30

// killEnv is one environment of killMembers containers spread over site-a
// and site-b on one overlay network, so that both sites get a tunnel.
func killEnv() string {
	members := make([]string, killMembers)
	for i := range members {
		members[i] = fmt.Sprintf("w%02d", i)
	}
	return fmt.Sprintf(`local r = import 'rensei.libsonnet';
{
  name: 'kill',
  networks: [r.network('lan', '198.19.44.0/24')],
  groups: [
    {
      name: 'ws',
      image: 'rensei/busybox:latest',
      command: ['sleep', 'infinity'],
      members: %s,
      placement: { sites: ['site-a', 'site-b'], strategy: 'spread' },
      networks: [{ network: 'lan' }],
      resources: { cpus: 0.1, memory: '32Mi' },
    },
  ],
}
`, jsonList(members))
}

// buildRensei builds the rensei binary into a temporary directory.
func buildRensei(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rensei")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/rensei-dev/rensei/cmd/rensei")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a loopback TCP port nothing listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// daemonProc is a `rensei daemon` subprocess; its log goes to a buffer
// that is written to the test log when the test fails.
type daemonProc struct {
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
	err  error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDaemon starts the binary with args; t.Cleanup kills it (also on
// failure) and waits for it.
func startDaemon(t *testing.T, name, bin string, args ...string) *daemonProc {
	t.Helper()
	p := &daemonProc{cmd: exec.Command(bin, args...), log: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill(t)
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, p.log.String())
		}
	})
	return p
}

// kill sends SIGKILL (if the process still runs) and waits for it.
func (p *daemonProc) kill(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("kill daemon: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Error("daemon did not exit within 30s of SIGKILL")
	}
}

func (p *daemonProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// managedOn lists the managed containers of one site engine with the
// docker CLI: name → state (every state, not only running).
func managedOn(tb testing.TB, s lab.Site) map[string][]string {
	tb.Helper()
	out := mustRun(tb, "docker", "-H", s.Docker, "ps", "-a", "--filter", "label=io.rensei.managed=true", "--format", "{{.Names}} {{.State}}")
	got := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, state, ok := strings.Cut(line, " "); ok {
			got[name] = append(got[name], state)
		}
	}
	return got
}

// TestKillMidApply: a daemon killed with SIGKILL while it creates a
// revision's containers leaves nothing that a restarted daemon does not
// finish or clean up: every container exactly once and running, no owned
// interface without its alias, `rensei plan` has nothing to do, and every
// host has its report.
func TestKillMidApply(t *testing.T) {
	st := labtest.ForTest(t, 3)
	bin := buildRensei(t)
	sites, err := os.ReadFile("../../site-configs/lab.jsonnet")
	if err != nil {
		t.Fatalf("the lab's site definitions: %v", err)
	}
	repo := newConfigRepo(t)
	head := repo.push("thirty workstations", map[string]string{"sites/lab.jsonnet": string(sites), "environments/kill.jsonnet": killEnv()})
	want := make([]string, killMembers)
	for i := range want {
		want[i] = fmt.Sprintf("kill_ws_w%02d", i)
	}
	siteA, ok := st.Site("site-a")
	if !ok {
		t.Fatal("the lab has no site-a")
	}

	stateDir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := []string{"daemon", "--repo", repo.bare, "--interval", "1s", "--listen", addr, "--state-dir", stateDir, "--log-level", "info", "--log-format", "text"}

	first := startDaemon(t, "the first daemon", bin, args...)
	start := time.Now()
	var seen int
	for {
		if first.exited() {
			t.Fatalf("the first daemon exited before it created anything: %v", first.err)
		}
		if strings.Contains(first.log.String(), "revision refused") {
			t.Fatal("the first daemon refused the revision")
		}
		if time.Since(start) > 2*time.Minute {
			t.Fatal("no container on site-a within 2m")
		}
		seen = len(managedOn(t, siteA))
		if seen > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	first.kill(t)
	// What the kill left: containers per site and state.
	left := map[string]int{}
	for _, s := range st.Sites {
		for _, states := range managedOn(t, s) {
			for _, state := range states {
				left[s.Name+" "+state]++
			}
		}
	}
	t.Logf("SIGKILL %s after the start, with %d containers seen on site-a; left behind: %v",
		time.Since(start).Round(time.Millisecond), seen, left)

	startDaemon(t, "the restarted daemon", bin, args...)
	restart := time.Now()
	eventually(t, 2*time.Minute, "/readyz 200 after the restart", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	eventually(t, 2*time.Minute, "every host reported converged at "+head, func() bool {
		rs := repo.reports()
		if len(rs) != len(st.Sites) {
			return false
		}
		for _, r := range rs {
			if r.Commit != head || !r.Converged || r.Refused != nil {
				return false
			}
		}
		return true
	})
	t.Logf("restart to converged and reported: %s", time.Since(restart).Round(time.Millisecond))

	if final := len(managedOn(t, siteA)); seen >= final {
		t.Fatalf("the kill came too late: site-a had all its %d containers already", final)
	}

	// Every desired container exactly once across the sites, running.
	where := map[string][]string{}
	for _, s := range st.Sites {
		for name, states := range managedOn(t, s) {
			for _, state := range states {
				where[name] = append(where[name], s.Name+":"+state)
			}
		}
	}
	for _, name := range want {
		got := where[name]
		if len(got) != 1 {
			t.Errorf("%s exists %d times: %v", name, len(got), got)
			continue
		}
		if !strings.HasSuffix(got[0], ":running") {
			t.Errorf("%s is %s, want running", name, got[0])
		}
	}
	for name, got := range where {
		if !slices.Contains(want, name) {
			t.Errorf("managed container %s (%v) is not desired", name, got)
		}
	}

	// Nothing left to do for the revision the daemon enforces. (plan reads
	// a clone: it looks for .git upwards and does not open a bare
	// repository.)
	clone := filepath.Join(t.TempDir(), "clone")
	repo.git(filepath.Dir(clone), "clone", "-q", repo.bare, clone)
	if got := repo.git(clone, "rev-parse", "main"); got != head {
		t.Fatalf("the clone's main is %s, want %s", got, head)
	}
	plan := exec.Command(bin, "plan", clone, "--ref", "main", "--detailed-exitcode")
	if out, err := plan.CombinedOutput(); err != nil {
		t.Errorf("rensei plan --detailed-exitcode: %v\n%s", err, out)
	}

	// No orphaned interface: every rs-vx-* device is Rensei's.
	tunnels := 0
	for _, s := range st.Sites {
		out, err := exec.Command("ip", "-j", "-n", s.Netns, "link", "show").Output()
		if err != nil {
			t.Fatalf("ip -n %s link: %v", s.Netns, err)
		}
		var links []struct {
			Name  string `json:"ifname"`
			Alias string `json:"ifalias"`
		}
		if err := json.Unmarshal(out, &links); err != nil {
			t.Fatalf("ip -j -n %s link: %v", s.Netns, err)
		}
		for _, l := range links {
			if !strings.HasPrefix(l.Name, "rs-vx-") {
				continue
			}
			tunnels++
			if !strings.HasPrefix(l.Alias, "rensei:") {
				t.Errorf("%s: %s has alias %q, want rensei:…", s.Name, l.Name, l.Alias)
			}
		}
	}
	if tunnels < 2 {
		t.Errorf("%d rs-vx-* devices over the lab, want one at each of site-a and site-b at least", tunnels)
	}

	// A report per host.
	rs := repo.reports()
	for _, s := range st.Sites {
		if _, ok := rs[s.Name+"/docker"]; !ok {
			t.Errorf("no report for %s/docker on the status branch (have %d)", s.Name, len(rs))
		}
	}
	repo.git(repo.bare, "fsck", "--strict")
}
