package daemon_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cpuTicks is the user+system CPU time of a process, in clock ticks.
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}

// TestRunawayConfigIsKilled: the rensei daemon evaluates a new commit in a
// child process; a config that never finishes is reported as refused and
// leaves nothing burning CPU (go-jsonnet itself cannot be interrupted).
func TestRunawayConfigIsKilled(t *testing.T) {
	bin := buildRensei(t)
	repo := newConfigRepo(t)
	head := repo.push("runaway", map[string]string{
		"sites/lab.jsonnet": fakeSites,
		// Ten billion additions, in constant memory and stack: only time stops it.
		"environments/course.jsonnet": "local spin = std.foldl(function(a, i) a + std.foldl(function(b, j) b + j, std.range(1, 100000), 0), std.range(1, 100000), 0);\n{ name: 'c' + spin }\n",
	})
	d := startDaemon(t, "the daemon", bin, "daemon", "--repo", repo.bare, "--hosts", "site-a/docker", "--interval", "1s",
		"--eval-timeout", "1s", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--state-dir", t.TempDir())
	eventually(t, 60*time.Second, "the runaway commit reported as refused", func() bool {
		r, ok := repo.reports()["site-a/docker"]
		return ok && r.Refused != nil && r.Refused.Commit == head && strings.Contains(r.Refused.Reason, "did not finish")
	})
	// Nothing keeps evaluating: the daemon is idle between passes.
	before := cpuTicks(t, d.cmd.Process.Pid)
	time.Sleep(3 * time.Second)
	if used := cpuTicks(t, d.cmd.Process.Pid) - before; used > 50 { // 0.5 s of CPU over 3 s
		t.Errorf("the daemon used %d ticks of CPU in 3 s after refusing a runaway config: an evaluation is still running", used)
	}
}
