package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rensei-dev/rensei/reconcile/daemon"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/notify"
	"github.com/rensei-dev/rensei/reconcile/probe"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/test/lab"
	"github.com/rensei-dev/rensei/test/lab/labtest"
)

// linksEnv is one member at each lab site, on one overlay network: every
// pair of sites is an overlay link.
const linksEnv = `local r = import 'rensei.libsonnet';
{
  name: 'mesh',
  networks: [r.network('lan', '198.19.46.0/24')],
  groups: [{
    name: 'node-' + s,
    image: 'rensei/busybox:latest',
    command: ['sleep', 'infinity'],
    replicas: 1,
    placement: { sites: ['site-' + s] },
    networks: [{ network: 'lan' }],
    resources: { cpus: 0.1, memory: '32Mi' },
  } for s in ['a', 'b', 'c']],
}
`

// inNetns runs a command inside a lab namespace (nsenter, as DESIGN.md
// says: `ip netns exec` remounts /sys).
func inNetns(t *testing.T, netns string, args ...string) string {
	t.Helper()
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + netns}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter %s %s: %v\n%s", netns, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// hookReceiver is a local JSON webhook (loopback) that keeps every event.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	events []notify.Event
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p struct{ Events []notify.Event }
		if err := json.Unmarshal(b, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.events = append(h.events, p.Events...)
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

// has reports whether an event of kind about host says every one of words.
func (h *hookReceiver) has(kind notify.Kind, host string, words ...string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.Kind != kind || e.Host != host {
			continue
		}
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(e.Message, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestOverlayLinksOnLab probes the overlay links between the three lab
// sites and breaks them the three ways links break: a peer's FDB entry
// removed (Rensei's own state: repaired), the WAN path's MTU lowered (an
// MTU black hole: small packets pass, full-size ones do not) and a WAN
// veth brought down (the test restores both). Each break is reported on
// the status branch with the right pair of sites, told to a webhook, and
// shown on the status page; each repair or recovery too.
func TestOverlayLinksOnLab(t *testing.T) {
	st := labtest.ForTest(t, 3)
	sites, err := os.ReadFile("../../site-configs/lab.jsonnet")
	if err != nil {
		t.Fatalf("the lab's site definitions: %v", err)
	}
	repo := newConfigRepo(t)
	c1 := repo.push("a mesh over three sites", map[string]string{"sites/lab.jsonnet": string(sites), "environments/mesh.jsonnet": linksEnv})
	remote, err := gitrepo.OpenRemote(repo.bare, t.TempDir(), gitrepo.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	hook := newHookReceiver(t)
	notifier := notify.New([]notify.Target{{Name: "webhook", Format: notify.JSON, URL: hook.URL}},
		notify.Options{Coalesce: 50 * time.Millisecond, MinInterval: -1})
	nctx, stopNotify := context.WithCancel(context.Background())
	notified := make(chan struct{})
	go func() { defer close(notified); notifier.Run(nctx) }()
	t.Cleanup(func() { stopNotify(); <-notified })
	d, err := daemon.New(daemon.Config{
		Remote:    remote,
		Publisher: &status.Publisher{Remote: remote},
		Interval:  time.Hour, // only events and probe rounds act
		Links:     daemon.LinkOptions{Interval: 2 * time.Second, Retry: time.Second, Probe: probe.Options{Timeout: 500 * time.Millisecond}},
		Notifier:  notifier,
		Log:       newDaemonLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, d, daemon.DefaultLimits)
	run(t, d)

	peers := map[string][]string{
		"site-a/docker": {"site-b/docker", "site-c/docker"},
		"site-b/docker": {"site-a/docker", "site-c/docker"},
		"site-c/docker": {"site-a/docker", "site-b/docker"},
	}
	// linkStates is every report's links as "host→peer state".
	linkStates := func() map[string]string {
		out := map[string]string{}
		for k, r := range repo.reports() {
			for _, l := range r.Links {
				out[k+"→"+l.Peer] = l.State()
			}
		}
		return out
	}
	// expect waits until the reports on the status branch hold exactly
	// these links in these states (others ok) at c1; it returns how long.
	expect := func(what string, broken map[string]string) time.Duration {
		t.Helper()
		start := time.Now()
		var got map[string]string
		eventually(t, 30*time.Second, what, func() bool {
			got = linkStates()
			if len(got) != 6 {
				return false
			}
			for host, ps := range peers {
				for _, p := range ps {
					want, ok := broken[host+"→"+p]
					if !ok {
						want = "ok"
					}
					if got[host+"→"+p] != want {
						return false
					}
				}
			}
			for _, r := range repo.reports() {
				if r.Commit != c1 || !r.Converged {
					return false
				}
			}
			return true
		})
		took := time.Since(start)
		t.Logf("%s: on the status branch after %s", what, took.Round(time.Millisecond))
		return took
	}
	expect("six healthy links", nil)
	logRTTs(t, url)
	// Healthy links cost no commit and no pass: three probe rounds later
	// the status branch and the daemon's counters are where they were.
	// (The engines' events of the first apply may still start a pass:
	// wait until the daemon is quiet first.)
	for quiet := d.Stats(); ; quiet = d.Stats() {
		time.Sleep(time.Second)
		if d.Stats().Passes == quiet.Passes {
			break
		}
	}
	commits, before := repo.statusCommits(), d.Stats()
	time.Sleep(3 * 2 * time.Second)
	if n, after := repo.statusCommits(), d.Stats(); n != commits || after.Passes != before.Passes || after.RefChecks != before.RefChecks {
		t.Errorf("healthy, unchanged links: %d → %d status commits, stats %+v → %+v", commits, n, before, after)
	}

	// 1. Rensei's own state: site-a loses its FDB entry for site-b. The
	// netlink watch wakes the daemon, which repairs the entry and says so
	// on the link.
	sa, _ := st.Site("site-a")
	sb, _ := st.Site("site-b")
	vx := tunnelName(t, sa)
	start := time.Now()
	inNetns(t, sa.Netns, "bridge", "fdb", "del", "00:00:00:00:00:00", "dev", vx, "dst", sb.Underlay)
	eventually(t, 30*time.Second, "the FDB fault on site-a → site-b reported as repaired", func() bool {
		r := repo.reports()["site-a/docker"]
		for _, l := range r.Links {
			if l.Peer == "site-b/docker" && l.Healthy() && strings.Contains(l.Repaired, "FDB entry to "+sb.Underlay+" missing") {
				return slices.ContainsFunc(r.Applied, func(it status.Item) bool { return it.Name == vx })
			}
		}
		return false
	})
	t.Logf("FDB entry removed → repaired and reported: %s", time.Since(start).Round(time.Millisecond))
	if out := inNetns(t, sa.Netns, "bridge", "fdb", "show", "dev", vx); !strings.Contains(out, "dst "+sb.Underlay) {
		t.Fatalf("the FDB entry is not back:\n%s", out)
	}
	eventually(t, 10*time.Second, "the repair told", func() bool {
		return hook.has(notify.LinkUp, "site-a/docker", "site-b/docker", "repaired", "FDB entry to "+sb.Underlay)
	})

	// 2. An MTU black hole: site-b's WAN side takes 1400 bytes; the
	// overlay's full-size packets (1450 + 50 bytes of VXLAN) are lost on
	// every link to and from site-b, and only there.
	inNetns(t, sb.Netns, "ip", "link", "set", "eth0", "mtu", "1400")
	t.Cleanup(func() {
		exec.Command("nsenter", "--net=/run/netns/"+sb.Netns, "ip", "link", "set", "eth0", "mtu", "1500").Run()
	})
	mtu := map[string]string{"site-a/docker→site-b/docker": "mtu", "site-c/docker→site-b/docker": "mtu",
		"site-b/docker→site-a/docker": "mtu", "site-b/docker→site-c/docker": "mtu"}
	expect("MTU lowered on site-b's WAN veth: the four links of site-b lose full-size packets", mtu)
	eventually(t, 10*time.Second, "the black hole told", func() bool {
		return hook.has(notify.LinkDown, "site-a/docker", "site-b/docker", "a full-size packet (1450 bytes, don't fragment) does not pass") &&
			hook.has(notify.LinkDown, "site-b/docker", "site-c/docker", "a full-size packet (1450 bytes, don't fragment) does not pass")
	})
	pageShot(t, url, "status-page-lab-mtu.png", "site-a/docker → site-b/docker", "mtu")
	inNetns(t, sb.Netns, "ip", "link", "set", "eth0", "mtu", "1500")
	expect("MTU restored: six healthy links", nil)
	eventually(t, 10*time.Second, "the recovery told", func() bool {
		return hook.has(notify.LinkUp, "site-a/docker", "site-b/docker", "passes traffic again")
	})

	// 3. site-b's WAN veth down (its end on the WAN bridge): every link
	// to and from site-b is down.
	wan := "rs-lab-wan"
	inNetns(t, wan, "ip", "link", "set", "rs-wan-b", "down")
	t.Cleanup(func() { exec.Command("nsenter", "--net=/run/netns/"+wan, "ip", "link", "set", "rs-wan-b", "up").Run() })
	down := map[string]string{"site-a/docker→site-b/docker": "down", "site-c/docker→site-b/docker": "down",
		"site-b/docker→site-a/docker": "down", "site-b/docker→site-c/docker": "down"}
	expect("site-b's WAN veth down: the four links of site-b are down", down)
	eventually(t, 10*time.Second, "the outage told", func() bool {
		return hook.has(notify.LinkDown, "site-c/docker", "site-b/docker", "no answer across the overlay")
	})
	inNetns(t, wan, "ip", "link", "set", "rs-wan-b", "up")
	expect("site-b's WAN veth up: six healthy links", nil)
	logRTTs(t, url)

	// The history of the status branch tells when each link broke and came back.
	log := repo.git(repo.bare, "log", "--format=%s", status.DefaultBranch)
	for _, want := range []string{"link(s) broken"} {
		if !strings.Contains(log, want) {
			t.Errorf("the status branch's history does not say %q:\n%s", want, log)
		}
	}
	repo.git(repo.bare, "fsck", "--strict")
}

// tunnelName is the one rs-vx-* device in the site's namespace.
func tunnelName(t *testing.T, s lab.Site) string {
	t.Helper()
	var links []struct {
		Name string `json:"ifname"`
	}
	if err := json.Unmarshal([]byte(inNetns(t, s.Netns, "ip", "-j", "link", "show", "type", "vxlan")), &links); err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if strings.HasPrefix(l.Name, "rs-vx-") {
			return l.Name
		}
	}
	t.Fatalf("no rs-vx- device in %s", s.Netns)
	return ""
}

// logRTTs logs the links' round-trip times as /api/v1/links gives them.
func logRTTs(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url + "api/v1/links")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Links []daemon.LinkView }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, l := range v.Links {
		parts = append(parts, fmt.Sprintf("%s→%s %s %.3f ms", strings.TrimSuffix(l.Host, "/docker"), strings.TrimSuffix(l.Peer, "/docker"), l.State, l.RTTms))
	}
	t.Logf("link round-trip times: %s", strings.Join(parts, "; "))
}

// pageShot opens the status page in a headless browser, waits until its
// overlay section shows want, and keeps a screenshot.
func pageShot(t *testing.T, url, name string, want ...string) {
	t.Helper()
	ctx := browser(t)
	nav, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(nav, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#hosts"))); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	waitText(t, ctx, 10*time.Second, "main", want...)
	screenshot(t, ctx, name)
}
