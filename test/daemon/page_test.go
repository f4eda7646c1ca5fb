package daemon_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/rensei-dev/rensei/reconcile/daemon"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/status"
)

// TestStatusPage opens the daemon's status page in a real headless
// browser (Debian's chromium, driven by chromedp) while the daemon runs
// against this machine's own Docker engine. The page renders the
// environment, the host and the enforced commit; a container removed
// behind the daemon's back shows up on the page as drift repaired within
// seconds, without a reload, through a stream that outlives the server's
// write timeout; the JSON API says the same. A screenshot is kept.
func TestStatusPage(t *testing.T) {
	ctx := browser(t)
	cli := localEngine(t)
	b := make([]byte, 3)
	rand.Read(b)
	env := "pg" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		f := filters.NewArgs(filters.Arg("label", "io.rensei.env="+env))
		cs, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		for _, c := range cs {
			cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
		ns, _ := cli.NetworkList(ctx, network.ListOptions{Filters: f})
		for _, n := range ns {
			cli.NetworkRemove(ctx, n.ID)
		}
	})
	repo := newConfigRepo(t)
	c1 := repo.push("a web service", map[string]string{
		"sites/local.jsonnet":   "[{ name: 'local', hosts: [{ name: 'docker', docker: 'unix:///var/run/docker.sock' }] }]\n",
		"policy/deploy.jsonnet": "{ deployment: '" + env + "' }\n",
		"environments/web.jsonnet": `{ name: '` + env + `', groups: [{ name: 'web', image: 'rensei/busybox:latest',
		  command: ['sleep', 'infinity'], replicas: 2, resources: { cpus: 0.1, memory: '32Mi' } }] }
`,
	})
	remote, err := gitrepo.OpenRemote(repo.bare, t.TempDir(), gitrepo.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{Remote: remote, Publisher: &status.Publisher{Remote: remote}, Interval: time.Hour,
		Connect: engine.ConnectWatching, Log: newDaemonLogger(t), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	// The server's limits, with a write timeout short enough that the
	// stream must outlive it during the test.
	lim := daemon.DefaultLimits
	lim.WriteTimeout = 2 * time.Second
	url := serve(t, d, lim)
	run(t, d)
	eventually(t, 60*time.Second, "converged and reported", func() bool {
		r, ok := repo.reports()["local/docker"]
		return ok && r.Commit == c1 && r.Converged
	})

	nav, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(nav, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	if err := chromedp.Do(nav, chromedp.WaitVisible(chromedp.CSS("#hosts"))); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	waitText(t, ctx, 10*time.Second, "#hosts", "local/docker", "converged", "Docker ")
	waitText(t, ctx, 10*time.Second, "#environments", env, "local", "2 / 2 running")
	waitText(t, ctx, 10*time.Second, "#commit", gitrepo.Short(c1))
	// A mark that a reload would lose.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.renseiMark = 42`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(lim.WriteTimeout + 500*time.Millisecond) // the stream lives on past the write timeout

	victim := env + "_web_0"
	start := time.Now()
	if out, err := exec.Command("docker", "rm", "-f", victim).CombinedOutput(); err != nil {
		t.Fatalf("docker rm: %v\n%s", err, out)
	}
	waitText(t, ctx, 15*time.Second, "#recent", "repaired", victim)
	latency := time.Since(start)
	t.Logf("container removed → drift and repair shown on the page: %s", latency.Round(time.Millisecond))
	if latency > 10*time.Second {
		t.Errorf("the page showed the drift after %s, want within seconds", latency)
	}
	if mark, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.renseiMark || 0`)); err != nil || mark != 42 {
		t.Errorf("the page was reloaded (mark %d, %v); it should update in place", mark, err)
	}
	if live := pageText(t, ctx, "#live"); !strings.HasPrefix(live, "live ·") {
		t.Errorf("the page is not fed by its stream: %q", live)
	}
	screenshot(t, ctx, "status-page-local.png")

	// The JSON API says what the page says.
	resp, err := http.Get(url + "api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var snap daemon.Snapshot
	if err := json.Unmarshal(body, &snap); err != nil {
		t.Fatalf("api/v1/status: %v\n%s", err, body)
	}
	found := false
	for _, e := range snap.Recent {
		if e.Kind == "repaired" && e.Host == "local/docker" && strings.Contains(strings.Join(e.Details, "\n"), victim) {
			found = true
		}
	}
	if snap.Commit != c1 || len(snap.Hosts) != 1 || snap.Hosts[0].EngineVersion == "" || !found {
		t.Errorf("api/v1/status: commit %s, hosts %+v, repair found %v", snap.Commit, snap.Hosts, found)
	}
	for _, path := range []string{"api/v1/hosts", "api/v1/environments", "api/v1/links", "api/v1/events", "ui/fragment", "metrics", "healthz"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}
}
