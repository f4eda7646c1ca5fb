package fleet_test

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/test/fakeengine"
	"github.com/rensei-dev/rensei/test/gittest"
)

// daemonProc is `rensei daemon` in a process of its own, in a network
// namespace of its own (as root it manages tunnels: in its own namespace
// it can touch none of this machine's interfaces; the simulated engines'
// sockets are files, reachable from any namespace).
type daemonProc struct {
	cmd  *exec.Cmd
	ns   string
	addr string
	log  *os.File
}

func startDaemonProc(b *testing.B, exe, bare string) *daemonProc {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root (a network namespace for the daemon)")
	}
	var r [4]byte
	crand.Read(r[:])
	p := &daemonProc{ns: "rs-fl-" + hex.EncodeToString(r[:])}
	if out, err := exec.Command("ip", "netns", "add", p.ns).CombinedOutput(); err != nil {
		b.Fatalf("ip netns add: %v: %s", err, out)
	}
	b.Cleanup(func() { exec.Command("ip", "netns", "del", p.ns).Run() })
	if out, err := exec.Command("ip", "-n", p.ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		b.Fatalf("lo up: %v: %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	p.addr = ln.Addr().String() // a free port number; the daemon listens in its namespace
	ln.Close()
	if p.log, err = os.CreateTemp("", "rensei-fleet-daemon-*.log"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		p.log.Close()
		if dir := os.Getenv("RENSEI_FLEET_PROFILE"); dir != "" {
			// Kept beside the profiles.
			os.Rename(p.log.Name(), filepath.Join(dir, "fleet-daemon.log"))
		}
		os.Remove(p.log.Name())
	})
	p.cmd = exec.Command("nsenter", "--net=/run/netns/"+p.ns, exe, "daemon", "--repo", bare, "--interval", "2s",
		"--listen", p.addr, "--state-dir", b.TempDir(), "--log-level", "warn", "--log-format", "text", "--pprof")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if v := os.Getenv("RENSEI_FLEET_GOMEMLIMIT"); v != "" {
		// The daemon alone (not this process) under a soft memory limit.
		p.cmd.Env = append(os.Environ(), "GOMEMLIMIT="+v)
	}
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
		if b.Failed() {
			out, _ := os.ReadFile(p.log.Name())
			b.Logf("daemon log:\n%s", out)
		}
	})
	return p
}

// metrics reads the daemon's /metrics, over a connection made inside its
// namespace.
func (p *daemonProc) metrics(b *testing.B) map[string]float64 {
	b.Helper()
	resp, err := p.get("/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			m[name] = v
		}
	}
	return m
}

// saveHeapProfile writes the daemon's heap profile (it runs with --pprof)
// to file.
func (p *daemonProc) saveHeapProfile(b *testing.B, file string) {
	resp, err := p.get("/debug/pprof/heap?gc=1")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("heap profile: %s %v", resp.Status, err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("the daemon's heap profile: %s (go tool pprof -sample_index=inuse_space -top %s)", file, file)
}

// saveCPUProfile writes a CPU profile of the daemon over d to file; a
// failure is logged, not fatal (it runs beside the benchmark).
func (p *daemonProc) saveCPUProfile(b *testing.B, file string, d time.Duration) {
	resp, err := p.get(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())))
	if err != nil {
		b.Log("cpu profile:", err)
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(file, data, 0o644)
	}
	if err != nil {
		b.Log("cpu profile:", err)
		return
	}
	b.Logf("the daemon's CPU profile: %s (go tool pprof -top -cum %s)", file, file)
}

// get asks the daemon's HTTP server for path, from inside its namespace.
func (p *daemonProc) get(path string) (*http.Response, error) {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return nil, err
		}
		defer orig.Close()
		target, err := netns.GetFromName(p.ns)
		if err != nil {
			return nil, err
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			return nil, err
		}
		// The socket is made on this thread, in the daemon's namespace.
		conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
		if serr := netns.Set(orig); serr != nil {
			panic(fmt.Sprintf("back to the original namespace: %v", serr))
		}
		return conn, err
	}
	cli := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
	return cli.Get("http://" + p.addr + path)
}

// hwm is the daemon's peak resident memory so far, in MiB (VmHWM).
func (p *daemonProc) hwm(b *testing.B) float64 { return p.procStatus("VmHWM") }

// procStatus reads a memory figure of the daemon's /proc status, in MiB:
// VmHWM (peak resident), RssAnon (its own memory), RssFile (pages of the
// binary and other files mapped, which the kernel can drop).
func (p *daemonProc) procStatus(field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// reportsAt counts the reports on the status branch that are converged at
// commit. The daemon pushes to the branch meanwhile: a read that fails
// counts nothing (the caller asks again).
func reportsAt(b *testing.B, bare, commit string) (converged, total int) {
	repo, err := gitrepo.Open(bare)
	if err != nil {
		b.Fatal(err)
	}
	rev, err := repo.Resolve(status.DefaultBranch)
	if err != nil {
		return 0, 0
	}
	list, err := status.Read(rev.FS)
	if err != nil {
		return 0, 0
	}
	for _, r := range list {
		if r.Commit == commit && r.Converged {
			converged++
		}
	}
	return converged, len(list)
}

// BenchmarkFleetDaemon runs `rensei daemon` (the binary, as deployed)
// against 100 simulated hosts: it converges 20,000 containers, then its
// resident memory is read after idle passes (target ≤ 150 MB); then it
// gets a push every 2 seconds (one more student in a random course) for
// RENSEI_SOAK (default 10m; 0 skips): every push must be converged and
// reported (every host's report at the pushed commit) before the next,
// and the heap must stay flat: its slope is reported in MiB per minute.
// RENSEI_FLEET_GOMEMLIMIT, when set, is the daemon's GOMEMLIMIT;
// RENSEI_FLEET_HOSTS the number of hosts (default 100, 200 containers each).
func BenchmarkFleetDaemon(b *testing.B) {
	for b.Loop() {
		fleetDaemonProc(b)
	}
}

func fleetDaemonProc(b *testing.B) {
	exe := renseiExe(b)
	hosts := 100
	if v := os.Getenv("RENSEI_FLEET_HOSTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("RENSEI_FLEET_HOSTS=%q: want a number of hosts", v)
		}
		hosts = n
	}
	f := newFleet(b, hosts, fakeengine.Options{})
	repo := gittest.New(b)
	head := repo.Push("fleet", fleetFiles(f, 200))
	p := startDaemonProc(b, exe, repo.Bare())
	start := time.Now()
	waitReported := func(commit string, within time.Duration) bool {
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if n, _ := reportsAt(b, repo.Bare(), commit); n == hosts {
				return true
			}
			time.Sleep(100 * time.Millisecond)
		}
		return false
	}
	if !waitReported(head, 10*time.Minute) {
		b.Fatal("the fleet was not converged and reported within 10m")
	}
	b.Logf("%d containers on %d hosts converged and reported by the daemon in %s", 200*hosts, hosts, time.Since(start).Round(time.Second))
	time.Sleep(30 * time.Second) // idle passes every 2s
	m := p.metrics(b)
	rss, heap := m["process_resident_memory_bytes"]/(1<<20), m["go_memstats_heap_inuse_bytes"]/(1<<20)
	b.ReportMetric(rss, "idle-rss-MB")
	b.ReportMetric(heap, "idle-heap-MB")
	b.ReportMetric(p.hwm(b), "peak-rss-MB")
	anon, file := p.procStatus("RssAnon"), p.procStatus("RssFile")
	b.ReportMetric(anon, "idle-rss-anon-MB")
	b.ReportMetric(file, "idle-rss-file-MB")
	if dir := os.Getenv("RENSEI_FLEET_PROFILE"); dir != "" {
		p.saveHeapProfile(b, filepath.Join(dir, "fleet-daemon-heap.pb.gz"))
		if resp, err := p.get("/debug/pprof/goroutine?debug=1"); err == nil {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			os.WriteFile(filepath.Join(dir, "fleet-daemon-goroutines.txt"), data, 0o644)
		}
	}
	mib := func(name string) float64 { return m[name] / (1 << 20) }
	b.Logf("the daemon's memory by the Go runtime: heap in use %.1f MiB, heap idle but not returned %.1f MiB, stacks %.1f MiB (%.0f goroutines), runtime metadata %.1f MiB, other %.1f MiB; total from the system %.1f MiB",
		mib("go_memstats_heap_inuse_bytes"), mib("go_memstats_heap_idle_bytes")-mib("go_memstats_heap_released_bytes"), mib("go_memstats_stack_inuse_bytes"), m["go_goroutines"],
		mib("go_memstats_mspan_inuse_bytes")+mib("go_memstats_mcache_inuse_bytes")+mib("go_memstats_gc_sys_bytes")+mib("go_memstats_buck_hash_sys_bytes"), mib("go_memstats_other_sys_bytes"), mib("go_memstats_sys_bytes"))
	b.Logf("after 15 idle passes: RSS %.0f MiB (target ≤ 150: %.0f MiB its own, %.0f MiB of the binary and files mapped), heap in use %.0f MiB, peak RSS (converging %d containers) %.0f MiB", rss, anon, file, heap, 200*hosts, p.hwm(b))

	soak := 10 * time.Minute
	if v := os.Getenv("RENSEI_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("RENSEI_SOAK=%q: %v", v, err)
		}
		soak = d
	}
	if soak <= 0 {
		return
	}
	if dir := os.Getenv("RENSEI_FLEET_PROFILE"); dir != "" {
		// The daemon's CPU over the soak's first 30 s.
		go p.saveCPUProfile(b, filepath.Join(dir, "fleet-daemon-soak-cpu.pb.gz"), 30*time.Second)
	}
	students := map[int]int{}
	var ts, heaps []float64
	var lags []time.Duration
	missed, never := 0, 0
	begin := time.Now()
	for time.Since(begin) < soak {
		tick := time.Now()
		c := rand.IntN(hosts)
		if students[c] == 0 {
			students[c] = 200
		}
		students[c]++
		commit := repo.Push("one more student", map[string]string{fmt.Sprintf("environments/c%03d.jsonnet", c): courseFile(c, students[c])})
		if waitReported(commit, time.Minute) {
			lag := time.Since(tick)
			lags = append(lags, lag)
			if lag > 2*time.Second {
				missed++
			}
		} else {
			never++
		}
		if m := p.metrics(b); m != nil {
			ts = append(ts, time.Since(begin).Minutes())
			heaps = append(heaps, m["go_memstats_heap_inuse_bytes"]/(1<<20))
		}
		time.Sleep(time.Until(tick.Add(2 * time.Second)))
	}
	slope := slopeOf(ts, heaps)
	if dir := os.Getenv("RENSEI_FLEET_PROFILE"); dir != "" {
		// Against the one after idle passes: go tool pprof -diff_base.
		p.saveHeapProfile(b, filepath.Join(dir, "fleet-daemon-heap-end.pb.gz"))
	}
	if m := p.metrics(b); m != nil {
		b.Logf("the daemon's cache: %.0f lists, %.0f hits, %.0f resyncs, %.0f gaps, %.0f stale, %.0f idle passes",
			m["rensei_cache_lists_total"], m["rensei_cache_hits_total"], m["rensei_cache_resyncs_total"],
			m["rensei_cache_gaps_total"], m["rensei_cache_stale_total"], m["rensei_cache_idle_passes_total"])
	}
	slices.Sort(lags)
	pct := func(q float64) time.Duration {
		if len(lags) == 0 {
			return 0
		}
		return lags[min(len(lags)-1, int(q*float64(len(lags))))]
	}
	b.ReportMetric(float64(len(lags)+never), "pushes")
	b.ReportMetric(float64(missed), "not-reported-in-2s")
	b.ReportMetric(float64(never), "not-reported-in-1m")
	b.ReportMetric(pct(0.5).Seconds(), "push-to-reported-p50-s")
	b.ReportMetric(pct(0.95).Seconds(), "push-to-reported-p95-s")
	b.ReportMetric(slope, "heap-MB/min")
	b.ReportMetric(heaps[len(heaps)-1], "final-heap-MB")
	b.Logf("%d pushes in %s: push to converged and reported on every host median %s, p95 %s, slowest %s; %d took over 2s, %d over a minute; heap in use %.1f → %.1f MiB, slope %.3f MiB/min",
		len(lags)+never, soak, pct(0.5).Round(time.Millisecond), pct(0.95).Round(time.Millisecond), pct(1).Round(time.Millisecond),
		missed, never, heaps[0], heaps[len(heaps)-1], slope)
}

// slopeOf is the least-squares slope of y over x.
func slopeOf(x, y []float64) float64 {
	n := float64(len(x))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx, sy, sxx, sxy = sx+x[i], sy+y[i], sxx+x[i]*x[i], sxy+x[i]*y[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}
