package daemon

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/notify"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/probe"
	"github.com/rensei-dev/rensei/reconcile/status"
)

// viewDaemon is a daemon that has not run, fed a pass by hand: site-a
// converged with a repair, site-b unreachable, site-c held by another
// daemon, a held revision, and links site-a → site-b broken (MTU).
func viewDaemon(t *testing.T) *Daemon {
	t.Helper()
	bare := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", "--bare", bare).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	remote, err := gitrepo.OpenRemote(bare, t.TempDir(), gitrepo.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Remote: remote, Version: "v-test", Links: LinkOptions{Interval: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2027, 4, 1, 9, 0, 0, 0, time.UTC)
	d.cfg.Now = func() time.Time { return now }
	want := &place.Desired{
		Environments: []place.EnvStatus{{Name: "cs101", State: place.Active}, {Name: "cs102", State: place.Scheduled, From: now.Add(24 * time.Hour)}},
		Hosts: []place.Host{
			{Key: "site-a/docker", Site: "site-a", Containers: containers("cs101", 2)},
			{Key: "site-b/docker", Site: "site-b", Containers: containers("cs101", 1)},
		},
	}
	d.refused = &status.Refusal{Commit: "feedfacefeedfacefeedfacefeedfacefeedface", Reason: "would delete 3 of 3 containers of site-a/docker", Held: true, Awaiting: status.ApprovePrune}
	repaired := status.Item{Kind: change.KindContainer, Name: "cs101_lab_ann", Env: "cs101", Action: change.Create, Reason: "absent"}
	reports := []status.Report{
		{Host: "docker", Site: "site-a", Commit: "c0ffee", Converged: true, Drift: []status.Item{repaired}, Applied: []status.Item{repaired}},
		{Host: "docker", Site: "site-b", Commit: "c0ffee", Error: "unreachable: engine down"},
	}
	d.others = map[string]status.Lease{"site-c/docker": {Host: "site-c/docker", Holder: status.Holder{ID: "x", Machine: "other", PID: 7}, Expires: now.Add(time.Minute)}}
	d.emit(d.hostEvents(reports, false, now))
	d.keepReports(reports)
	link := probe.Link{Host: "site-a/docker", Peer: "site-b/docker", Network: "cs101/lan", MTU: 1450}
	back := probe.Link{Host: "site-b/docker", Peer: "site-a/docker", Network: "cs101/lan", MTU: 1450}
	d.links.tracker.Update([]probe.Result{
		{Link: link, OK: true, RTT: 1500 * time.Microsecond, Error: "a full-size packet (1450 bytes, don't fragment) does not pass", At: now},
		{Link: back, OK: true, MTUOK: true, RTT: 700 * time.Microsecond, At: now},
	}, now)
	d.linkMetrics()
	obs := plan.Observed{"site-a/docker": {Status: drivers.HostStatus{Reachable: true, DockerVersion: "27.5.1"}}}
	d.notePass(want, obs, plan.Plan{}, reports, now)
	d.emit(d.refusalEvents(now))
	d.refreshView()
	return d
}

func containers(env string, n int) []drivers.ContainerSpec {
	out := make([]drivers.ContainerSpec, n)
	for i := range out {
		out[i].Labels = map[string]string{"io.rensei.env": env}
	}
	return out
}

// TestPageAndAPI: the page holds every part of the snapshot (escaped),
// its inline CSS and script match the hashes its Content-Security-Policy
// allows, and the JSON API says the same.
func TestPageAndAPI(t *testing.T) {
	d := viewDaemon(t)
	h := d.Handler(nil)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Result(), rec.Body.String()
	}
	resp, page := get("/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		"Held revision", "feedfacefeed", "awaiting approval: prune", "would delete 3 of 3 containers",
		"Hosts held by another daemon", "site-c/docker", "on other (pid 7)",
		`data-host="site-a/docker" data-state="converged"`, `data-host="site-b/docker" data-state="unreachable"`,
		"cs101", "2 / 2 running", "cs102", "scheduled",
		`data-from="site-a/docker" data-to="site-b/docker" data-state="mtu"`, "MTU ✗", "✓ 0.70 ms",
		"1 object(s) drifted and were repaired", "create container cs101_lab_ann: absent", "host unreachable: engine down",
		"v-test", "Docker 27.5.1",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, "src=") {
		t.Error("the page refers to something outside itself")
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, re := range []string{`(?s)<style>(.*?)</style>`, `(?s)<script>(.*?)</script>`} {
		m := regexp.MustCompile(re).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no %s in the page", re)
		}
		sum := sha256.Sum256([]byte(m[1]))
		if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, h) {
			t.Errorf("the policy %q does not allow the inline %s (%s)", csp, re, h)
		}
	}
	_, frag := get("/ui/fragment")
	if strings.Contains(frag, "<html") || !strings.Contains(frag, `id="hosts"`) {
		t.Errorf("fragment: %.200s", frag)
	}

	_, body := get("/api/v1/status")
	var s Snapshot
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Hosts) != 3 || s.Hosts[2].HeldBy == "" || s.Refused == nil || !s.Refused.Held || len(s.Networks) != 1 || len(s.Links) != 2 {
		t.Errorf("status: %s", body)
	}
	if c := s.Networks[0].Cells; c[0][0] != nil || c[0][1] == nil || c[0][1].State != "mtu" || c[1][0].State != "ok" {
		t.Errorf("matrix: %+v", s.Networks[0])
	}
	_, body = get("/api/v1/links")
	if !strings.Contains(body, `"rttMs": 1.5`) {
		t.Errorf("links: %s", body)
	}
	_, body = get("/api/v1/environments")
	var envs []EnvView
	json.Unmarshal([]byte(body), &envs)
	if len(envs) != 2 || envs[0].Desired != 3 || envs[0].Running != 2 || len(envs[0].Sites) != 2 || envs[0].Sites[1].State != "unreachable" {
		t.Errorf("environments (the unreachable host's instances are not counted as running): %s", body)
	}
	_, body = get("/api/v1/events")
	var evs []notify.Event
	json.Unmarshal([]byte(body), &evs)
	kinds := map[notify.Kind]bool{}
	for _, e := range evs {
		kinds[e.Kind] = true
	}
	if !kinds[notify.Repaired] || !kinds[notify.Failed] || !kinds[notify.Held] {
		t.Errorf("events: %s", body)
	}

	m := d.cfg.Metrics
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"host up site-a", gaugeValue(m.hostUp.vec.WithLabelValues("site-a", "docker")), 1},
		{"host up site-b", gaugeValue(m.hostUp.vec.WithLabelValues("site-b", "docker")), 0},
		{"instances running", gaugeValue(m.instancesRunning.vec.WithLabelValues("cs101", "site-a", "docker")), 2},
		{"instances desired", gaugeValue(m.instancesDesired.vec.WithLabelValues("cs101", "site-a", "docker")), 2},
		{"link mtu ok", gaugeValue(m.linkMTUOK.vec.WithLabelValues("cs101/lan", "site-a/docker", "site-b/docker")), 0},
		{"link up", gaugeValue(m.linkUp.vec.WithLabelValues("cs101/lan", "site-a/docker", "site-b/docker")), 1},
		{"link rtt", gaugeValue(m.linkRTT.vec.WithLabelValues("cs101/lan", "site-b/docker", "site-a/docker")), 0.0007},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "rensei_build_info" && (len(f.Metric) != 1 || len(f.Metric[0].Label) != 3) {
			t.Errorf("rensei_build_info: %v", f)
		}
	}
}

func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	g.Write(&m)
	return m.GetGauge().GetValue()
}

// TestStream: a status page stream outlives the server's read and write
// timeouts (each write has its own deadline), carries a new snapshot as
// it is published, is capped in number, and ends when the server shuts
// down; the other endpoints keep their limits.
func TestStream(t *testing.T) {
	d := viewDaemon(t)
	lim := Limits{MaxConnections: maxStreams + 4, ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond,
		WriteTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond, MaxHeaderBytes: 4 << 10}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, d.Handler(nil), lim) }()
	defer cancel()
	base := "http://" + ln.Addr().String()

	resp, err := http.Get(base + "/ui/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream: %s %s", resp.Status, ct)
	}
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "event: ") {
				events <- sc.Text()
			}
		}
		close(events)
	}()
	next := func(what string) {
		t.Helper()
		select {
		case e, ok := <-events:
			if !ok || e != "event: update" {
				t.Fatalf("%s: stream ended or sent %q", what, e)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no update within 5s", what)
		}
	}
	next("the first snapshot")
	time.Sleep(3 * lim.WriteTimeout) // past the read and write timeouts
	d.emit([]notify.Event{{Kind: notify.Drift, Severity: notify.Warning, Host: "site-a/docker", Message: "something new"}})
	d.refreshView()
	next("a snapshot published after the server's timeouts")

	// The cap: maxStreams are open with the one above; the next is refused.
	var open []*http.Response
	for range maxStreams - 1 {
		r, err := http.Get(base + "/ui/stream")
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("stream within the cap: %v %v", err, r)
		}
		open = append(open, r)
	}
	r, err := http.Get(base + "/ui/stream")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a stream beyond the cap: %s", r.Status)
	}
	for _, r := range open {
		r.Body.Close()
	}
	// The API still answers, within its limits.
	if r, err := http.Get(base + "/api/v1/hosts"); err != nil || r.StatusCode != 200 {
		t.Errorf("api/v1/hosts beside the streams: %v %v", err, r)
	} else {
		r.Body.Close()
	}

	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("Serve did not return within 4s with a stream open")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("shutdown with a stream open took %s", took)
	}
}
