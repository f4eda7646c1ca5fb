package daemon_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNotifyFromDaemon runs the rensei binary with both notification
// targets configured outside Git (the generic webhook's URL in a file, the
// Slack one in a variable, a signing secret in a file) against local
// receivers: a host that cannot be reached and a broken commit are told
// to both, the generic one signed; the first delivery of each fails with
// a 500 and is retried; the URLs, which hold secrets, are in no log line.
func TestNotifyFromDaemon(t *testing.T) {
	bin := buildRensei(t)
	type got struct {
		mu     sync.Mutex
		bodies []string
		sigs   []string
		calls  int
	}
	receiver := func(g *got) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			g.mu.Lock()
			defer g.mu.Unlock()
			g.calls++
			if g.calls == 1 {
				w.WriteHeader(http.StatusInternalServerError) // the first delivery fails
				return
			}
			g.bodies = append(g.bodies, string(b))
			g.sigs = append(g.sigs, r.Header.Get("X-Rensei-Signature-256"))
		}))
		t.Cleanup(s.Close)
		return s
	}
	var hook, slack got
	hookSrv, slackSrv := receiver(&hook), receiver(&slack)
	dir := t.TempDir()
	hookURL := hookSrv.URL + "/hooks/s3cr3t-hook-token"
	slackURL := slackSrv.URL + "/services/T0/B0/s3cr3t-slack-token"
	os.WriteFile(filepath.Join(dir, "hook-url"), []byte(hookURL+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "hook-secret"), []byte("k3y\n"), 0o600)

	repo := newConfigRepo(t)
	repo.push("a host nobody can reach", map[string]string{"sites/lab.jsonnet": fakeSites, "environments/course.jsonnet": course("ann")})
	args := []string{"daemon", "--repo", repo.bare, "--interval", "1s", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--state-dir", t.TempDir(), "--log-level", "debug", "--log-format", "text",
		"--notify-webhook-url-file", filepath.Join(dir, "hook-url"), "--notify-webhook-secret-file", filepath.Join(dir, "hook-secret"),
		"--notify-slack-url-env", "TEST_SLACK_URL", "--notify-min-interval", "1s", "--probe-interval", "0"}
	t.Setenv("TEST_SLACK_URL", slackURL)
	p := startDaemon(t, "the daemon", bin, args...)

	has := func(g *got, words ...string) bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, b := range g.bodies {
			ok := true
			for _, w := range words {
				ok = ok && strings.Contains(b, w)
			}
			if ok {
				return true
			}
		}
		return false
	}
	eventually(t, 30*time.Second, "the unreachable hosts told to both targets", func() bool {
		return has(&hook, `"kind":"failed"`, "host unreachable", "site-a/docker") && has(&slack, `[error] site-a/docker failed: host unreachable`)
	})
	bad := repo.push("broken", map[string]string{"environments/course.jsonnet": "{ name: 'course', groups: [ \n"})
	eventually(t, 30*time.Second, "the refused revision told to both targets", func() bool {
		return has(&hook, `"kind":"refused"`, bad[:12], "course.jsonnet") && has(&slack, "refused: revision "+bad[:12])
	})
	hook.mu.Lock()
	for i, sig := range hook.sigs {
		if !strings.HasPrefix(sig, "sha256=") {
			t.Errorf("generic delivery %d unsigned: %q", i, sig)
		}
	}
	calls := hook.calls
	hook.mu.Unlock()
	if calls < 3 {
		t.Errorf("generic receiver: %d calls, want the failed one retried and a second message", calls)
	}
	log := p.log.String()
	for _, secret := range []string{"s3cr3t", "/hooks/", "/services/", "k3y"} {
		if strings.Contains(log, secret) {
			t.Errorf("the daemon's log holds %q:\n%s", secret, log)
		}
	}
	for _, want := range []string{"notifications on", "target=webhook", "target=slack", "signed=true", "notification failed; retrying"} {
		if !strings.Contains(log, want) {
			t.Errorf("the daemon's log lacks %q", want)
		}
	}
}
