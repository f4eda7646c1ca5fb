package e2e_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sample is one request of a load run.
type sample struct {
	at   time.Time
	took time.Duration
	by   string // X-Served-By: the web container's host name
	err  error
}

// load sends GET url every period, one connection per request, until
// stopped, and records every answer.
type load struct {
	mu      sync.Mutex
	samples []sample
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func startLoad(url string, period time.Duration) *load {
	ld := &load{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var wg sync.WaitGroup
	go func() {
		defer close(ld.done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-ld.stop:
				wg.Wait()
				return
			case <-tick.C:
			}
			wg.Go(func() {
				s := sample{at: time.Now()}
				resp, err := client.Get(url)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					s.by = resp.Header.Get("X-Served-By")
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s", resp.Status)
					}
				}
				s.took, s.err = time.Since(s.at), err
				ld.mu.Lock()
				ld.samples = append(ld.samples, s)
				ld.mu.Unlock()
			})
		}
	}()
	return ld
}

// end stops the load and waits for the requests in flight; it may be
// called more than once.
func (ld *load) end() {
	ld.once.Do(func() { close(ld.stop) })
	<-ld.done
}

// window is what the requests started in [from, to) got.
type window struct {
	requests, failures int
	by                 map[string]int
	slowest            time.Duration
	errs               []string
}

func (ld *load) window(from, to time.Time) window {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	w := window{by: map[string]int{}}
	for _, s := range ld.samples {
		if s.at.Before(from) || !s.at.Before(to) {
			continue
		}
		w.requests++
		w.slowest = max(w.slowest, s.took)
		if s.err != nil {
			w.failures++
			w.errs = append(w.errs, s.at.Format("15:04:05.000")+" "+s.err.Error())
			continue
		}
		w.by[s.by]++
	}
	return w
}

func (w window) String() string {
	keys := make([]string, 0, len(w.by))
	for k := range w.by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var by []string
	for _, k := range keys {
		by = append(by, fmt.Sprintf("%s %d", k, w.by[k]))
	}
	return fmt.Sprintf("%d requests, %d failed, slowest %s, served by: %s", w.requests, w.failures, w.slowest.Round(time.Millisecond), strings.Join(by, ", "))
}

// servedSince waits until a request started after since was served by host.
func (ld *load) servedSince(t *testing.T, host string, since time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	eventually(t, timeout, host+" serving", func() error {
		if ld.window(since, time.Now().Add(time.Hour)).by[host] == 0 {
			return errors.New("no request served by it yet")
		}
		return nil
	})
	ld.mu.Lock()
	defer ld.mu.Unlock()
	for _, s := range ld.samples {
		if s.by == host && !s.at.Before(since) {
			return s.at.Add(s.took).Sub(since)
		}
	}
	return 0
}

// lockedLog is a daemon's output, read while it runs.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startResearchDaemon runs `rensei daemon` on the bare repository for the
// test's life (SIGTERM, then SIGKILL after 20 s, at cleanup) and returns
// its log.
func startResearchDaemon(t *testing.T, bare, secrets string) *lockedLog {
	t.Helper()
	state := t.TempDir()
	cmd := exec.Command(renseiBin, "daemon", "--repo", bare, "--interval", "2s", "--listen", "127.0.0.1:0",
		"--state-dir", state, "--secrets-dir", secrets, "--log-format", "text", "--log-level", "info")
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	log := &lockedLog{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = os.WriteFile(filepath.Join(os.TempDir(), "rensei-research-daemon.log"), []byte(log.String()), 0o644)
		if t.Failed() {
			t.Logf("daemon log:\n%s", clip(log.String()))
		}
	})
	return log
}

// TestLoadBalancedService applies examples/lb-service: HAProxy at site-c,
// a web replica at site-a and one at site-b. From the WAN side, requests
// go to both sites; site-b fails twice under a steady stream of requests
// (20 a second), its engine alone and then its power and network, and the
// requests keep succeeding from site-a (the failures during the switch are
// counted and reported); each time site-b is powered on, with a daemon
// keeping the lab converged, and the load balancer sends it requests
// again; a pushed commit adds a replica at site-a, which then serves too.
func TestLoadBalancedService(t *testing.T) {
	l := newResearchLab(t, "lb-service", "web", "lb")
	wanClient(t, 201)
	const url = "http://198.18.0.3:8080/whoami"
	start := time.Now()
	l.rensei(0, "apply", "--yes")
	applied := time.Since(start)
	eventually(t, time.Minute, "a request through the load balancer", func() error { _, err := httpGet(url); return err })
	figure(t, "lb-service: apply %s; first request served through the load balancer %s after apply started", seconds(applied), seconds(time.Since(start)))

	l.repo.Bare()
	l.repo.Git("push", "-q", "origin", "main")
	daemonLog := startResearchDaemon(t, l.repo.BareDir, l.secrets)

	statusDir := t.TempDir()
	// daemonSays is the state of host in the daemon's latest report.
	daemonSays := func(host, want string) func() error {
		return func() error {
			out, err := stdout(renseiBin, "status", "--repo", l.repo.BareDir, "--state-dir", statusDir)
			if err != nil {
				return err
			}
			for _, line := range strings.Split(out, "\n") {
				if f := strings.Fields(line); len(f) > 1 && f[0] == host {
					if f[1] == want {
						return nil
					}
					return fmt.Errorf("the daemon reports %s %s", host, f[1])
				}
			}
			return fmt.Errorf("no report of %s:\n%s", host, out)
		}
	}
	eventually(t, time.Minute, "the daemon's first reports", daemonSays("site-b/docker", "converged"))

	ld := startLoad(url, 50*time.Millisecond)
	defer ld.end()
	steady := time.Now()
	ld.servedSince(t, "web-site-a-0", steady, 30*time.Second)
	ld.servedSince(t, "web-site-b-0", steady, 30*time.Second)
	time.Sleep(3 * time.Second)
	before := ld.window(steady, time.Now())
	t.Logf("both sites up: %s", before)
	if before.failures > 0 || before.by["web-site-a-0"] == 0 || before.by["web-site-b-0"] == 0 {
		t.Fatalf("before the outage: %s", before)
	}

	// Two outages of site-b: its engine dies (its containers' network
	// namespaces outlive it in the lab, so connections are refused at
	// once), then a power cut (the site's link to the WAN goes down too:
	// packets vanish and connects time out).
	for _, o := range []struct {
		name string
		cut  func()
		back func()
	}{
		{"engine crash", func() { mustRensei(t, 0, "lab", "stop", "site-b") }, func() { mustRensei(t, 0, "lab", "start", "site-b") }},
		{"power cut", func() {
			mustRensei(t, 0, "lab", "stop", "site-b")
			must(t, "ip", "-n", "rs-lab-b", "link", "set", "eth0", "down")
		}, func() { mustRensei(t, 0, "lab", "start", "site-b") }}, // start sets the link up again
	} {
		o.cut()
		cut := time.Now()
		time.Sleep(12 * time.Second)
		during := ld.window(cut, time.Now())
		settled := ld.window(cut.Add(5*time.Second), time.Now())
		t.Logf("%s of site-b, first 12 s: %s", o.name, during)
		for _, e := range during.errs {
			t.Logf("failed: %s", e)
		}
		if ld.window(cut.Add(time.Second), time.Now()).by["web-site-b-0"] > 0 {
			t.Errorf("%s: site-b still serves after its power was cut: %s", o.name, during)
		}
		if during.failures > during.requests/20 || settled.failures > 0 || settled.by["web-site-a-0"] != settled.requests {
			t.Errorf("%s: requests failed while site-b was down: %s; after the first 5 s: %s", o.name, during, settled)
		}
		figure(t, "lb-service: %s of site-b under 20 requests/s: %d of %d requests failed in the first 12 s, slowest answer %s; from 5 s on: %s",
			o.name, during.failures, during.requests, during.slowest.Round(time.Millisecond), settled)

		eventually(t, time.Minute, "the daemon's report of site-b down", daemonSays("site-b/docker", "unreachable"))
		o.back()
		powered := time.Now()
		back := ld.servedSince(t, "web-site-b-0", powered, 2*time.Minute)
		eventually(t, time.Minute, "the daemon's report of site-b converged", daemonSays("site-b/docker", "converged"))
		reported := time.Since(powered)
		time.Sleep(2 * time.Second)
		after := ld.window(powered, time.Now())
		t.Logf("site-b on again: %s", after)
		if after.failures > 0 {
			t.Errorf("%s: requests failed after site-b came back: %s", o.name, after)
		}
		figure(t, "lb-service: after the %s, site-b powered on: its replica serves again %s after power-on; the daemon reports it converged %s after power-on; %d failures meanwhile",
			o.name, seconds(back), seconds(reported), after.failures)
	}

	l.edit("environments/shop.jsonnet", "'site-a': 1,", "'site-a': 2,")
	l.repo.Push("shop: a second replica at site-a", nil)
	pushed := time.Now()
	added := ld.servedSince(t, "web-site-a-1", pushed, 2*time.Minute)
	time.Sleep(2 * time.Second)
	change := ld.window(pushed, time.Now())
	t.Logf("after the push: %s", change)
	for _, e := range change.errs {
		t.Logf("failed: %s", e)
	}
	figure(t, "lb-service: a pushed commit adding a replica: the new replica serves %s after the push; the load balancer is replaced meanwhile: %d of %d requests failed",
		seconds(added), change.failures, change.requests)
	ld.end()
	t.Logf("daemon log:\n%s", clip(daemonLog.String()))
	mustRensei(t, 0, "plan", "--detailed-exitcode", "--secrets-dir", l.secrets, l.repo.Dir)
}
