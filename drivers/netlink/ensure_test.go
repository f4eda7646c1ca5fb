package netlink

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/drivers"
)

// ipLink is the part of `ip -d -j link show` the tests look at.
type ipLink struct {
	Name     string   `json:"ifname"`
	Index    int      `json:"ifindex"`
	MTU      int      `json:"mtu"`
	Master   string   `json:"master"`
	Alias    string   `json:"ifalias"`
	Flags    []string `json:"flags"`
	LinkInfo struct {
		Kind string `json:"info_kind"`
		Data struct {
			ID       int    `json:"id"`
			Local    string `json:"local"`
			Port     int    `json:"port"`
			Learning bool   `json:"learning"`
		} `json:"info_data"`
	} `json:"linkinfo"`
}

func showLink(t *testing.T, ns, name string) ipLink {
	t.Helper()
	var links []ipLink
	ipJSON(t, &links, "ip", ns, "-d", "link", "show", "dev", name)
	if len(links) != 1 {
		t.Fatalf("ip link show %s: %d links", name, len(links))
	}
	return links[0]
}

// fdbPeers returns the sorted destinations of the all-zero entries of dev,
// as `bridge fdb show` sees them.
func fdbPeers(t *testing.T, ns, dev string) []string {
	t.Helper()
	var entries []struct {
		MAC   string   `json:"mac"`
		Dst   string   `json:"dst"`
		State string   `json:"state"`
		Flags []string `json:"flags"`
	}
	ipJSON(t, &entries, "bridge", ns, "fdb", "show", "dev", dev)
	var peers []string
	for _, e := range entries {
		if e.MAC == "00:00:00:00:00:00" && e.Dst != "" {
			if e.State != "permanent" {
				t.Errorf("fdb %s dst %s: state %q, want permanent", dev, e.Dst, e.State)
			}
			peers = append(peers, e.Dst)
		}
	}
	slices.Sort(peers)
	return peers
}

func testSpec() drivers.TunnelSpec {
	return drivers.TunnelSpec{
		Name:   "rs-vx-4242",
		VNI:    4242,
		Local:  underlay(1),
		Port:   4789,
		Bridge: "rs-br-4242",
		MTU:    1450,
		Peers:  []string{underlay(2), underlay(3)},
		Owner:  "cs101/lab",
	}
}

// wantTunnel is what List should report for a converged spec.
func wantTunnel(s drivers.TunnelSpec) drivers.Tunnel {
	return drivers.Tunnel{
		Name: s.Name, VNI: s.VNI, Local: s.Local, Port: s.Port, Bridge: s.Bridge,
		MTU: s.MTU, Up: true, Peers: s.Peers, Rate: s.Rate, Owner: s.Owner,
	}
}

func TestEnsureCreatesAndIsIdempotent(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	addBridge(t, ns, "rs-br-4242")
	tun, rec := newTunnels(t, ns)
	ctx := testCtx(t)
	spec := testSpec()

	if err := tun.Ensure(ctx, spec); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	l := showLink(t, ns, spec.Name)
	d := l.LinkInfo.Data
	if l.LinkInfo.Kind != "vxlan" || d.ID != 4242 || d.Local != underlay(1) || d.Port != 4789 || d.Learning {
		t.Errorf("ip -d link: kind %s id %d local %s port %d learning %v", l.LinkInfo.Kind, d.ID, d.Local, d.Port, d.Learning)
	}
	if l.MTU != 1450 || l.Master != "rs-br-4242" || l.Alias != "rensei:cs101/lab" || !slices.Contains(l.Flags, "UP") {
		t.Errorf("ip link: mtu %d master %q alias %q flags %v", l.MTU, l.Master, l.Alias, l.Flags)
	}
	if diff := cmp.Diff(spec.Peers, fdbPeers(t, ns, spec.Name)); diff != "" {
		t.Errorf("bridge fdb (-want +got):\n%s", diff)
	}
	got, err := tun.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if diff := cmp.Diff([]drivers.Tunnel{wantTunnel(spec)}, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	rec.take()

	if err := tun.Ensure(ctx, spec); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	if changes := rec.take(); len(changes) != 0 {
		t.Errorf("second Ensure changed something: %q", changes)
	}
	if again := showLink(t, ns, spec.Name); again.Index != l.Index {
		t.Errorf("second Ensure recreated the device: index %d → %d", l.Index, again.Index)
	}
}

func TestEnsureMissingBridge(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	tun, _ := newTunnels(t, ns)
	err := tun.Ensure(testCtx(t), testSpec())
	if !errors.Is(err, drivers.ErrNotFound) || !strings.Contains(err.Error(), "rs-br-4242") {
		t.Fatalf("Ensure without bridge: got %v, want ErrNotFound naming the bridge", err)
	}
	var links []ipLink
	ipJSON(t, &links, "ip", ns, "link", "show", "type", "vxlan")
	if len(links) != 0 {
		t.Errorf("Ensure without bridge left devices: %+v", links)
	}
}

func TestEnsureRepairsDrift(t *testing.T) {
	t.Parallel()
	spec := testSpec()
	tests := []struct {
		name  string
		spec  func(drivers.TunnelSpec) drivers.TunnelSpec // nil: testSpec
		drift func(t *testing.T, ns string)
		want  []string // change records
	}{{
		name:  "device deleted",
		drift: func(t *testing.T, ns string) { run(t, "ip", "-n", ns, "link", "del", spec.Name) },
		want: []string{"action=create name=rs-vx-4242",
			"action=create name=rs-vx-4242 peer=198.18.0.2", "action=create name=rs-vx-4242 peer=198.18.0.3"},
	}, {
		name: "fdb entry removed",
		drift: func(t *testing.T, ns string) {
			run(t, "bridge", "-n", ns, "fdb", "del", "00:00:00:00:00:00", "dev", spec.Name, "dst", underlay(3))
		},
		want: []string{"action=create name=rs-vx-4242 peer=198.18.0.3"},
	}, {
		name: "extra fdb entry",
		drift: func(t *testing.T, ns string) {
			run(t, "bridge", "-n", ns, "fdb", "append", "00:00:00:00:00:00", "dev", spec.Name, "dst", underlay(9))
		},
		want: []string{"action=delete name=rs-vx-4242 peer=198.18.0.9"},
	}, {
		name:  "detached from bridge",
		drift: func(t *testing.T, ns string) { run(t, "ip", "-n", ns, "link", "set", spec.Name, "nomaster") },
		want:  []string{"action=update change=set master rs-br-4242 name=rs-vx-4242"},
	}, {
		name: "wrong master",
		drift: func(t *testing.T, ns string) {
			addBridge(t, ns, "other-br")
			run(t, "ip", "-n", ns, "link", "set", spec.Name, "master", "other-br")
		},
		want: []string{"action=update change=set master rs-br-4242 name=rs-vx-4242"},
	}, {
		name:  "mtu changed",
		drift: func(t *testing.T, ns string) { run(t, "ip", "-n", ns, "link", "set", spec.Name, "mtu", "1300") },
		want:  []string{"action=update change=set mtu 1300 → 1450 name=rs-vx-4242"},
	}, {
		name:  "device down",
		drift: func(t *testing.T, ns string) { run(t, "ip", "-n", ns, "link", "set", spec.Name, "down") },
		want:  []string{"action=update change=set up name=rs-vx-4242"},
	}, {
		name:  "desired mtu changed",
		spec:  func(s drivers.TunnelSpec) drivers.TunnelSpec { s.MTU = 1400; return s },
		drift: func(*testing.T, string) {},
		want:  []string{"action=update change=set mtu 1450 → 1400 name=rs-vx-4242"},
	}, {
		name:  "desired peer replaced",
		spec:  func(s drivers.TunnelSpec) drivers.TunnelSpec { s.Peers = []string{underlay(2), underlay(4)}; return s },
		drift: func(*testing.T, string) {},
		want: []string{"action=create name=rs-vx-4242 peer=198.18.0.4",
			"action=delete name=rs-vx-4242 peer=198.18.0.3"},
	}, {
		name:  "owner relabelled",
		spec:  func(s drivers.TunnelSpec) drivers.TunnelSpec { s.Owner = "cs102/lab"; return s },
		drift: func(*testing.T, string) {},
		want:  []string{"action=update change=set alias rensei:cs102/lab name=rs-vx-4242"},
	}, {
		name:  "vni differs: recreated",
		spec:  func(s drivers.TunnelSpec) drivers.TunnelSpec { s.VNI = 4343; return s },
		drift: func(*testing.T, string) {},
		want: []string{"action=replace name=rs-vx-4242 reason=vni 4242 → 4343", "action=create name=rs-vx-4242",
			"action=create name=rs-vx-4242 peer=198.18.0.2", "action=create name=rs-vx-4242 peer=198.18.0.3"},
	}, {
		name:  "port differs: recreated",
		spec:  func(s drivers.TunnelSpec) drivers.TunnelSpec { s.Port = 8472; return s },
		drift: func(*testing.T, string) {},
		want: []string{"action=replace name=rs-vx-4242 reason=port 4789 → 8472", "action=create name=rs-vx-4242",
			"action=create name=rs-vx-4242 peer=198.18.0.2", "action=create name=rs-vx-4242 peer=198.18.0.3"},
	}, {
		name:  "local differs: recreated",
		spec:  func(s drivers.TunnelSpec) drivers.TunnelSpec { s.Local = underlay(5); return s },
		drift: func(*testing.T, string) {},
		want: []string{"action=replace name=rs-vx-4242 reason=local 198.18.0.1 → 198.18.0.5", "action=create name=rs-vx-4242",
			"action=create name=rs-vx-4242 peer=198.18.0.2", "action=create name=rs-vx-4242 peer=198.18.0.3"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := newNetns(t)
			addBridge(t, ns, spec.Bridge)
			tun, rec := newTunnels(t, ns)
			ctx := testCtx(t)
			if err := tun.Ensure(ctx, spec); err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			tc.drift(t, ns)
			rec.take()
			want := spec
			if tc.spec != nil {
				want = tc.spec(spec)
			}
			if err := tun.Ensure(ctx, want); err != nil {
				t.Fatalf("repairing Ensure: %v", err)
			}
			if diff := cmp.Diff(tc.want, rec.take()); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			got, err := tun.List(ctx)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if diff := cmp.Diff([]drivers.Tunnel{wantTunnel(want)}, got); diff != "" {
				t.Errorf("List after repair (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want.Peers, fdbPeers(t, ns, spec.Name)); diff != "" {
				t.Errorf("bridge fdb (-want +got):\n%s", diff)
			}
			if err := tun.Ensure(ctx, want); err != nil {
				t.Fatalf("third Ensure: %v", err)
			}
			if changes := rec.take(); len(changes) != 0 {
				t.Errorf("Ensure after repair changed something: %q", changes)
			}
		})
	}
}

func TestParseSpecRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*drivers.TunnelSpec)
		want string
	}{
		{"long name", func(s *drivers.TunnelSpec) { s.Name = "rs-vx-1234567890" }, "invalid name"},
		{"vni zero", func(s *drivers.TunnelSpec) { s.VNI = 0 }, "invalid vni"},
		{"vni too big", func(s *drivers.TunnelSpec) { s.VNI = 1 << 24 }, "invalid vni"},
		{"no port", func(s *drivers.TunnelSpec) { s.Port = 0 }, "invalid port"},
		{"no bridge", func(s *drivers.TunnelSpec) { s.Bridge = "" }, "invalid bridge"},
		{"no owner", func(s *drivers.TunnelSpec) { s.Owner = "" }, "empty owner"},
		{"bad local", func(s *drivers.TunnelSpec) { s.Local = "site-a" }, "invalid local"},
		{"bad peer", func(s *drivers.TunnelSpec) { s.Peers = []string{"x"} }, "invalid peer"},
		{"peer is local", func(s *drivers.TunnelSpec) { s.Peers = []string{underlay(1)} }, "is the local address"},
		{"mixed family", func(s *drivers.TunnelSpec) { s.Peers = []string{"2001:db8::1"} }, "address family"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := testSpec()
			tc.edit(&s)
			_, err := parseSpec(s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseSpec: got %v, want error containing %q", err, tc.want)
			}
		})
	}
	if _, err := parseSpec(testSpec()); err != nil {
		t.Errorf("parseSpec(valid): %v", err)
	}
}
