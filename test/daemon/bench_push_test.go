package daemon_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/daemon"
)

// BenchmarkPushToConverged measures, per iteration, the time from a push
// adding one member (the push has returned: the ref is on the remote) to
// its container on a fake host, with a running daemon whose only wake-up
// is the one named: fsnotify on a local repository's refs (interval an
// hour) or polling (the same repository served over smart HTTP by
// git http-backend, no ref watch, interval 1s). It reports
// the median and the 95th percentile; use -benchtime Nx. When polling,
// each push waits a random part of the interval first (untimed), so that
// pushes fall at random phases of the cycle.
func BenchmarkPushToConverged(b *testing.B) {
	b.Run("local-fsnotify", func(b *testing.B) {
		benchPush(b, false, time.Hour)
	})
	b.Run("polling-1s", func(b *testing.B) {
		benchPush(b, true, time.Second)
	})
}

func benchPush(b *testing.B, httpURL bool, interval time.Duration) {
	repo := newConfigRepo(b)
	fleet := newFakeFleet()
	members := []string{"m000"}
	repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course(members...)})
	remote := repo
	if httpURL {
		// No ref watch on an HTTP remote: only the interval wakes the
		// daemon. (A file:// URL is a local path to the daemon, watched.)
		remote = &configRepo{t: b, bare: serveHTTP(b, repo)}
	}
	d := newDaemon(b, remote, fleet, func(c *daemon.Config) {
		c.Interval = interval
		c.Log = nil // the test log would time the logging too
	})
	run(b, d)
	eventually(b, 30*time.Second, "first pass", d.Ready)
	has := func(name string) bool {
		return slices.ContainsFunc(fleet.containers(b), func(s string) bool { return strings.HasSuffix(s, ": "+name) })
	}
	durations := make([]time.Duration, 0, b.N)
	var pushes time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if httpURL {
			// Push at a random phase of the polling cycle: right after the
			// previous container appeared, the next pass is a whole
			// interval away, every time.
			b.StopTimer()
			time.Sleep(rand.N(interval))
			b.StartTimer()
		}
		name := fmt.Sprintf("m%03d", i+1)
		members = append(members, name)
		pushStart := time.Now()
		repo.push("add "+name, map[string]string{"environments/course.jsonnet": course(members...)})
		start := time.Now()
		pushes += start.Sub(pushStart)
		deadline := start.Add(30 * time.Second)
		for !has("course_lab_" + name) {
			if time.Now().After(deadline) {
				b.Fatalf("%s not created within 30s of its push", name)
			}
			time.Sleep(2 * time.Millisecond)
		}
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durations)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(durations, 50)), "median-ms")
	b.ReportMetric(ms(percentile(durations, 95)), "p95-ms")
	b.ReportMetric(ms(pushes)/float64(b.N), "git-push-ms")
}

// serveHTTP serves the bare repository over Git's smart HTTP protocol
// (git http-backend through CGI, pushes allowed) until the benchmark ends,
// and returns its URL.
func serveHTTP(tb testing.TB, repo *configRepo) string {
	tb.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		tb.Fatal(err)
	}
	repo.git(repo.bare, "config", "http.receivepack", "true")
	srv := httptest.NewServer(&cgi.Handler{
		Path: git,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + filepath.Dir(repo.bare), "GIT_HTTP_EXPORT_ALL=1"},
	})
	tb.Cleanup(srv.Close)
	return srv.URL + "/" + filepath.Base(repo.bare)
}

// percentile returns the p-th percentile of sorted (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

// idlePasses is the number of passes with nothing to do per iteration of
// BenchmarkDaemonRSS.
const idlePasses = 500

// BenchmarkDaemonRSS runs idlePasses idle passes per iteration over 200
// managed containers on three fake hosts and reports the Go heap in use
// (after a GC) and the process's resident set (VmRSS, VmHWM) at the end,
// and how much the heap grew over all the passes: a steady daemon's heap
// does not grow with its passes. The process is the test binary, so the
// RSS includes the test framework and the fake hosts.
func BenchmarkDaemonRSS(b *testing.B) {
	repo := newConfigRepo(b)
	fleet := newFakeFleet()
	members := make([]string, 200)
	for i := range members {
		members[i] = fmt.Sprintf("s%03d", i)
	}
	repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course(members...)})
	d := newDaemon(b, repo, fleet, func(c *daemon.Config) { c.Log = nil })
	ctx := context.Background()
	d.Pass(ctx)
	if got := d.Pass(ctx); got != daemon.ResultConverged {
		b.Fatalf("not converged: %s", got)
	}
	heapStart := heapInUse()
	before := d.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range idlePasses {
			if got := d.Pass(ctx); got != daemon.ResultConverged {
				b.Fatalf("idle pass: %s", got)
			}
		}
	}
	b.StopTimer()
	if after := d.Stats(); after.Evaluations != before.Evaluations || after.Commits != before.Commits {
		b.Fatalf("idle passes evaluated or committed: %+v → %+v", before, after)
	}
	heap := heapInUse()
	mb := func(n uint64) float64 { return float64(n) / (1 << 20) }
	b.ReportMetric(mb(heap), "heap-inuse-MB")
	b.ReportMetric((mb(heap)-mb(heapStart))*1024, "heap-growth-KB")
	rss, hwm := procStatus(b, "VmRSS"), procStatus(b, "VmHWM")
	b.ReportMetric(float64(rss)/1024, "rss-MB")
	b.ReportMetric(float64(hwm)/1024, "rss-peak-MB")
	b.ReportMetric(float64(b.N*idlePasses), "passes")
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// procStatus returns a field of /proc/self/status in kB.
func procStatus(tb testing.TB, field string) uint64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb := strings.TrimSuffix(strings.TrimSpace(rest), " kB")
			n, err := strconv.ParseUint(strings.TrimSpace(kb), 10, 64)
			if err != nil {
				tb.Fatalf("%s: %v", field, err)
			}
			return n
		}
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}
