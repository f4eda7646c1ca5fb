package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/netlink"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// desired is three hosts: a and b share env/lan (VNI 7, with tunnels);
// c has env/solo alone (no tunnel); a, b and c share env/wide (VNI 8).
func desired() *place.Desired {
	netSpec := func(env, name string, vni int, gw string) drivers.NetworkSpec {
		return drivers.NetworkSpec{Name: env + "_" + name, Bridge: place.BridgeName(vni), Gateway: gw, MTU: 1450,
			Labels: map[string]string{drivers.LabelEnv: env, drivers.LabelNetwork: name}}
	}
	tun := func(vni int, local string, peers ...string) drivers.TunnelSpec {
		return drivers.TunnelSpec{Name: place.TunnelName(vni), VNI: vni, Local: local, Bridge: place.BridgeName(vni), MTU: 1450, Peers: peers}
	}
	return &place.Desired{Hosts: []place.Host{
		{Key: "site-a/docker", Networks: []drivers.NetworkSpec{netSpec("env", "lan", 7, "198.19.7.1"), netSpec("env", "wide", 8, "198.19.8.1")},
			Tunnels: []drivers.TunnelSpec{tun(7, "198.18.0.1", "198.18.0.2"), tun(8, "198.18.0.1", "198.18.0.2", "198.18.0.3")}},
		{Key: "site-b/docker", Networks: []drivers.NetworkSpec{netSpec("env", "lan", 7, "198.19.7.33"), netSpec("env", "wide", 8, "198.19.8.33")},
			Tunnels: []drivers.TunnelSpec{tun(7, "198.18.0.2", "198.18.0.1"), tun(8, "198.18.0.2", "198.18.0.1", "198.18.0.3")}},
		{Key: "site-c/docker", Networks: []drivers.NetworkSpec{netSpec("env", "solo", 9, "198.19.9.1"), netSpec("env", "wide", 8, "198.19.8.65")},
			Tunnels: []drivers.TunnelSpec{tun(8, "198.18.0.3", "198.18.0.1", "198.18.0.2")}},
	}}
}

func TestTargets(t *testing.T) {
	links := Targets(desired(), nil)
	var got []string
	for _, l := range links {
		got = append(got, fmt.Sprintf("%s %s→%s via %s/%s peer %s mtu %d", l.String(), l.Src, l.Dst, l.Dev, l.Tunnel, l.PeerUnderlay, l.MTU))
	}
	want := []string{
		"site-a/docker → site-b/docker (env/lan) 198.19.7.1→198.19.7.33 via rs-br-7/rs-vx-7 peer 198.18.0.2 mtu 1450",
		"site-a/docker → site-b/docker (env/wide) 198.19.8.1→198.19.8.33 via rs-br-8/rs-vx-8 peer 198.18.0.2 mtu 1450",
		"site-a/docker → site-c/docker (env/wide) 198.19.8.1→198.19.8.65 via rs-br-8/rs-vx-8 peer 198.18.0.3 mtu 1450",
		"site-b/docker → site-a/docker (env/lan) 198.19.7.33→198.19.7.1 via rs-br-7/rs-vx-7 peer 198.18.0.1 mtu 1450",
		"site-b/docker → site-a/docker (env/wide) 198.19.8.33→198.19.8.1 via rs-br-8/rs-vx-8 peer 198.18.0.1 mtu 1450",
		"site-b/docker → site-c/docker (env/wide) 198.19.8.33→198.19.8.65 via rs-br-8/rs-vx-8 peer 198.18.0.3 mtu 1450",
		"site-c/docker → site-a/docker (env/wide) 198.19.8.65→198.19.8.1 via rs-br-8/rs-vx-8 peer 198.18.0.1 mtu 1450",
		"site-c/docker → site-b/docker (env/wide) 198.19.8.65→198.19.8.33 via rs-br-8/rs-vx-8 peer 198.18.0.2 mtu 1450",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Targets (-want +got):\n%s", d)
	}
	only := Targets(desired(), func(k string) bool { return k == "site-c/docker" })
	if len(only) != 2 || only[0].Host != "site-c/docker" || only[1].Host != "site-c/docker" {
		t.Errorf("Targets of site-c only: %v", only)
	}
}

func TestFaults(t *testing.T) {
	links := Targets(desired(), func(k string) bool { return k == "site-a/docker" })
	good := func(vni int, peers ...string) drivers.Tunnel {
		return drivers.Tunnel{Name: place.TunnelName(vni), Bridge: place.BridgeName(vni), MTU: 1450, Up: true, Peers: peers}
	}
	for _, tc := range []struct {
		name    string
		tunnels []drivers.Tunnel
		err     error
		want    map[string]string
	}{
		{"healthy", []drivers.Tunnel{good(7, "198.18.0.2"), good(8, "198.18.0.2", "198.18.0.3")}, nil, map[string]string{}},
		{"unobservable host", nil, errors.New("down"), map[string]string{}},
		{"FDB entry missing", []drivers.Tunnel{good(7, "198.18.0.2"), good(8, "198.18.0.2")}, nil, map[string]string{
			"site-a/docker env/wide site-c/docker": "FDB entry to 198.18.0.3 missing on rs-vx-8"}},
		{"tunnel missing", []drivers.Tunnel{good(8, "198.18.0.2", "198.18.0.3")}, nil, map[string]string{
			"site-a/docker env/lan site-b/docker": "tunnel rs-vx-7 missing"}},
		{"down, detached, wrong MTU", []drivers.Tunnel{{Name: "rs-vx-7", MTU: 1300, Peers: []string{"198.18.0.2"}}, good(8, "198.18.0.2", "198.18.0.3")}, nil, map[string]string{
			"site-a/docker env/lan site-b/docker": "tunnel rs-vx-7 down; tunnel rs-vx-7 not enslaved to rs-br-7; tunnel rs-vx-7 MTU 1300, want 1450"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := plan.Observed{"site-a/docker": {Tunnels: tc.tunnels, Err: tc.err}}
			if d := cmp.Diff(tc.want, Faults(links, obs)); d != "" {
				t.Errorf("Faults (-want +got):\n%s", d)
			}
		})
	}
}

// scripted answers echoes by destination and size: a function of the
// echo returns the error (nil: a reply after 300µs). It counts requests.
type scripted struct {
	mu     sync.Mutex
	answer func(e netlink.Echo) error
	sent   int
}

func (s *scripted) Ping(_ context.Context, e netlink.Echo) (time.Duration, error) {
	s.mu.Lock()
	s.sent++
	s.mu.Unlock()
	if err := s.answer(e); err != nil {
		return 0, err
	}
	return 300 * time.Microsecond, nil
}

func TestRun(t *testing.T) {
	links := Targets(desired(), nil)
	// site-a: every link fine but the full-size echo to site-c's bridge
	// (an MTU black hole); site-b: nothing comes back from site-c;
	// site-c: fragmentation needed towards site-a; no pinger for nobody.
	a := &scripted{answer: func(e netlink.Echo) error {
		if e.Dst == netip.MustParseAddr("198.19.8.65") && e.DF {
			return netlink.ErrNoReply
		}
		return nil
	}}
	b := &scripted{answer: func(e netlink.Echo) error {
		if e.Dst == netip.MustParseAddr("198.19.8.65") {
			return netlink.ErrNoReply
		}
		return nil
	}}
	c := &scripted{answer: func(e netlink.Echo) error {
		if e.Dst == netip.MustParseAddr("198.19.8.1") && e.Size == 1450 {
			if !e.DF {
				t.Error("full-size echo without don't-fragment")
			}
			return &netlink.FragNeededError{MTU: 1350}
		}
		return nil
	}}
	pingers := map[string]Pinger{"site-a/docker": a, "site-b/docker": b, "site-c/docker": c}
	res := Run(context.Background(), links, func(h string) Pinger { return pingers[h] }, Options{Timeout: 10 * time.Millisecond})
	var got []string
	for _, r := range res {
		got = append(got, fmt.Sprintf("%s ok=%v mtu=%v %s", r.Link.String(), r.OK, r.MTUOK, r.Error))
	}
	want := []string{
		"site-a/docker → site-b/docker (env/lan) ok=true mtu=true ",
		"site-a/docker → site-b/docker (env/wide) ok=true mtu=true ",
		"site-a/docker → site-c/docker (env/wide) ok=true mtu=false a full-size packet (1450 bytes, don't fragment) does not pass: no echo reply to 2 requests within 10ms each (lost on the way)",
		"site-b/docker → site-a/docker (env/lan) ok=true mtu=true ",
		"site-b/docker → site-a/docker (env/wide) ok=true mtu=true ",
		"site-b/docker → site-c/docker (env/wide) ok=false mtu=false no answer across the overlay: no echo reply to 2 requests within 10ms each (lost on the way)",
		"site-c/docker → site-a/docker (env/wide) ok=true mtu=false a full-size packet (1450 bytes, don't fragment) does not pass: MTU black hole: fragmentation needed, next-hop MTU 1350",
		"site-c/docker → site-b/docker (env/wide) ok=true mtu=true ",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Run (-want +got):\n%s", d)
	}
	// a: 3 small + 2 full + 2 failed full retries; b: 3 small (one lost twice) + 2 full;
	// c: 2 small + 1 full answered "fragmentation needed" (not retried) + 1 full.
	if a.sent != 7 || b.sent != 6 || c.sent != 4 {
		t.Errorf("echoes sent: a %d, b %d, c %d; want 7, 6, 4", a.sent, b.sent, c.sent)
	}
	if res[0].RTT != 300*time.Microsecond {
		t.Errorf("rtt %s", res[0].RTT)
	}
	if got := Run(context.Background(), links, func(string) Pinger { return nil }, Options{}); len(got) != 0 {
		t.Errorf("no pinger, yet %d results", len(got))
	}
}

func TestTracker(t *testing.T) {
	links := Targets(desired(), func(k string) bool { return k == "site-a/docker" })
	tr := NewTracker()
	t0 := time.Date(2027, 4, 1, 9, 0, 0, 0, time.UTC)
	result := func(l Link, ok, mtu bool, why string) Result {
		return Result{Link: l, OK: ok, MTUOK: mtu, Error: why, RTT: time.Millisecond, At: t0}
	}
	all := func(ok, mtu bool) []Result {
		var out []Result
		for _, l := range links {
			out = append(out, result(l, ok, mtu, ""))
		}
		return out
	}
	words := func(cs []Change) string {
		var s []string
		for _, c := range cs {
			s = append(s, fmt.Sprintf("%s %s→%s", c.Peer+" "+c.Network, c.From, c.Condition()))
		}
		return strings.Join(s, ", ")
	}
	if cs := tr.Update(all(true, true), t0); len(cs) != 0 {
		t.Errorf("healthy links seen first are no change: %s", words(cs))
	}
	t1 := t0.Add(time.Minute)
	res := all(true, true)
	res[2] = result(links[2], true, false, "black hole")
	if got := words(tr.Update(res, t1)); got != "site-c/docker env/wide ok→mtu" {
		t.Errorf("changes: %q", got)
	}
	if cs := tr.Update(res, t1.Add(time.Minute)); len(cs) != 0 || tr.Host("site-a/docker")[2].Since != t1 {
		t.Errorf("the same again: changes %s, since %s", words(cs), tr.Host("site-a/docker")[2].Since)
	}
	if !tr.Failing() {
		t.Error("not failing with a black hole")
	}
	// A fault found by observation, then repaired: the next probe is healthy.
	t2 := t1.Add(2 * time.Minute)
	tr.BeginPass()
	if c := tr.Fault(links[0], "FDB entry to 198.18.0.2 missing on rs-vx-7", t2); c == nil || c.From != "ok" {
		t.Errorf("fault: %+v", c)
	}
	res[2] = result(links[2], true, true, "")
	cs := tr.Update(res, t2)
	if got := words(cs); got != "site-b/docker env/lan down→ok, site-c/docker env/wide mtu→ok" {
		t.Errorf("changes: %q", got)
	}
	if s := tr.Host("site-a/docker")[0]; s.Repaired != "FDB entry to 198.18.0.2 missing on rs-vx-7" || !s.Healthy() {
		t.Errorf("repaired link: %+v", s)
	}
	tr.BeginPass()
	if s := tr.Host("site-a/docker")[0]; s.Repaired != "" {
		t.Errorf("a repair outlives its pass: %+v", s)
	}
	tr.Retain(links[:1])
	if n := len(tr.All()); n != 1 || tr.Failing() {
		t.Errorf("after Retain: %d links, failing %v", n, tr.Failing())
	}
}
