package daemon_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/daemon"
)

// TestHTTP: /healthz, /readyz (after the first pass), /metrics, and a
// signed webhook waking a daemon whose interval is an hour.
func TestHTTP(t *testing.T) {
	repo := newConfigRepo(t)
	fleet := newFakeFleet()
	repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("ann")})
	// A file:// URL: no fsnotify, so only the webhook can wake the daemon early.
	d := newDaemonURL(t, "file://"+repo.bare, fleet)
	srv := httptest.NewServer(d.Handler([]byte("s3cret")))
	t.Cleanup(srv.Close)
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	if code, _ := get("/readyz"); code != 503 {
		t.Fatalf("readyz before a pass: %d", code)
	}
	run(t, d)
	eventually(t, 10*time.Second, "ready", func() bool { code, _ := get("/readyz"); return code == 200 })

	repo.push("add bob", map[string]string{"environments/course.jsonnet": course("ann", "bob")})
	body := `{"ref":"refs/heads/main"}`
	m := hmac.New(sha256.New, []byte("s3cret"))
	m.Write([]byte(body))
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhook", strings.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %d", resp.StatusCode)
	}
	eventually(t, 5*time.Second, "bob created after the webhook", func() bool { return len(fleet.containers(t)) == 2 })
	t.Logf("webhook to converged: %s", time.Since(start).Round(time.Millisecond))

	bad, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhook", strings.NewReader(body))
	bad.Header.Set("X-GitHub-Event", "push")
	bad.Header.Set("X-Hub-Signature-256", "sha256=00")
	resp, err = http.DefaultClient.Do(bad)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d", resp.StatusCode)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		"rensei_pass_duration_seconds_count",
		`rensei_passes_total{result="drifted"}`,
		`rensei_steps_applied_total{action="create"}`,
		"rensei_git_fetch_duration_seconds_count",
		`rensei_webhook_deliveries_total{provider="github",result="accepted"} 1`,
		`rensei_webhook_deliveries_total{provider="github",result="rejected"} 1`,
		"rensei_drift_found_total",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func newDaemonURL(t testing.TB, url string, fleet *fakeFleet) *daemon.Daemon {
	t.Helper()
	repo := &configRepo{t: t, bare: url}
	return newDaemon(t, repo, fleet, nil)
}

// BenchmarkIdlePass: a pass with nothing to do over 200 managed containers
// on three fake hosts: one ref check, one list per kind per host, no
// Jsonnet, no Git write.
func BenchmarkIdlePass(b *testing.B) {
	repo := newConfigRepo(b)
	fleet := newFakeFleet()
	members := make([]string, 200)
	for i := range members {
		members[i] = fmt.Sprintf("s%03d", i)
	}
	repo.push("init", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course(members...)})
	d := newDaemon(b, repo, fleet, nil)
	ctx := context.Background()
	d.Pass(ctx)
	if got := d.Pass(ctx); got != daemon.ResultConverged {
		b.Fatalf("not converged: %s", got)
	}
	if n := len(fleet.containers(b)); n != 200 {
		b.Fatalf("%d containers", n)
	}
	before := d.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d.Pass(ctx)
	}
	b.StopTimer()
	after := d.Stats()
	if after.Evaluations != before.Evaluations || after.Commits != before.Commits || after.Fetches != before.Fetches {
		b.Fatalf("idle passes did work: %+v → %+v", before, after)
	}
}
