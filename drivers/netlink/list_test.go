package netlink

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/drivers"
)

func TestListOwnedOnly(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	addBridge(t, ns, "rs-br-4242")
	addBridge(t, ns, "rs-br-7")
	tun, _ := newTunnels(t, ns)
	ctx := testCtx(t)

	a := testSpec()
	b := testSpec()
	b.Name, b.VNI, b.Bridge, b.Peers, b.Owner, b.MTU = "rs-vx-5", 5, "rs-br-7", nil, "hpc/mpi", 0
	for _, s := range []drivers.TunnelSpec{a, b} {
		if err := tun.Ensure(ctx, s); err != nil {
			t.Fatalf("Ensure %s: %v", s.Name, err)
		}
	}
	// Someone else's devices: another name, and Rensei's name without the alias.
	run(t, "ip", "-n", ns, "link", "add", "vx-other", "type", "vxlan", "id", "99", "dstport", "4789", "local", underlay(1))
	run(t, "bridge", "-n", ns, "fdb", "append", "00:00:00:00:00:00", "dev", "vx-other", "dst", underlay(7))
	run(t, "ip", "-n", ns, "link", "add", "rs-vx-7", "type", "vxlan", "id", "7", "dstport", "4789")
	run(t, "ip", "-n", ns, "link", "set", "rs-vx-7", "master", "rs-br-7", "up")

	got, err := tun.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	wb := wantTunnel(b)
	wb.MTU = 1500 // MTU 0 leaves the kernel's default
	if diff := cmp.Diff([]drivers.Tunnel{wantTunnel(a), wb}, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}

	before := showLink(t, ns, "rs-vx-7")
	unowned := testSpec()
	unowned.Name, unowned.VNI, unowned.Bridge = "rs-vx-7", 7, "rs-br-7"
	if err := tun.Ensure(ctx, unowned); !errors.Is(err, drivers.ErrNotOwned) {
		t.Errorf("Ensure on unowned device: got %v, want ErrNotOwned", err)
	}
	if err := tun.Delete(ctx, "rs-vx-7"); !errors.Is(err, drivers.ErrNotOwned) {
		t.Errorf("Delete on unowned device: got %v, want ErrNotOwned", err)
	}
	if diff := cmp.Diff(before, showLink(t, ns, "rs-vx-7")); diff != "" {
		t.Errorf("unowned device was touched (-before +after):\n%s", diff)
	}
	if got := fdbPeers(t, ns, "rs-vx-7"); len(got) != 0 {
		t.Errorf("unowned device got fdb entries %v", got)
	}
}

// A device left without alias by an interrupted Ensure (between RTM_NEWLINK
// and setting the alias) still carries ownedGroup and is adopted.
func TestEnsureAdoptsInterruptedCreate(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	addBridge(t, ns, "rs-br-4242")
	tun, _ := newTunnels(t, ns)
	ctx := testCtx(t)
	spec := testSpec()
	run(t, "ip", "-n", ns, "link", "add", spec.Name, "group", "0x72730000", "type", "vxlan",
		"id", "4242", "dstport", "4789", "local", underlay(1), "nolearning")
	if err := tun.Ensure(ctx, spec); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	got, err := tun.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if diff := cmp.Diff([]drivers.Tunnel{wantTunnel(spec)}, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	addBridge(t, ns, "rs-br-4242")
	tun, rec := newTunnels(t, ns)
	ctx := testCtx(t)

	type tcQdisc struct {
		Kind    string `json:"kind"`
		Handle  string `json:"handle"`
		Root    bool   `json:"root"`
		Options struct {
			Rate uint64 `json:"rate"`
		} `json:"options"`
	}
	rootQdisc := func() (q tcQdisc) {
		t.Helper()
		var qs []tcQdisc
		ipJSON(t, &qs, "tc", ns, "qdisc", "show", "dev", "rs-vx-4242", "root")
		for _, q := range qs {
			if q.Root {
				return q
			}
		}
		return q
	}
	steps := []struct {
		name string
		rate uint64
		want tcQdisc // kind and handle and rate only
	}{
		{"created with rate", 1_250_000, tcQdisc{Kind: "tbf", Handle: "7273:"}},
		{"rate changed", 12_500_000, tcQdisc{Kind: "tbf", Handle: "7273:"}},
		{"rate removed", 0, tcQdisc{Kind: "noqueue"}},
		{"rate again", 6_000_000_000, tcQdisc{Kind: "tbf", Handle: "7273:"}}, // > 32 bits: TCA_TBF_RATE64
	}
	for _, step := range steps {
		spec := testSpec()
		spec.Rate = step.rate
		if err := tun.Ensure(ctx, spec); err != nil {
			t.Fatalf("%s: Ensure: %v", step.name, err)
		}
		q := rootQdisc()
		if q.Kind != step.want.Kind || (step.want.Handle != "" && q.Handle != step.want.Handle) {
			t.Errorf("%s: root qdisc %s %s, want %s %s", step.name, q.Kind, q.Handle, step.want.Kind, step.want.Handle)
		}
		if step.rate > 0 && q.Options.Rate != step.rate {
			t.Errorf("%s: tc rate %d B/s, want %d", step.name, q.Options.Rate, step.rate)
		}
		got, err := tun.List(ctx)
		if err != nil || len(got) != 1 || got[0].Rate != step.rate {
			t.Errorf("%s: List = %+v, %v; want rate %d", step.name, got, err, step.rate)
		}
		rec.take()
		if err := tun.Ensure(ctx, spec); err != nil {
			t.Fatalf("%s: second Ensure: %v", step.name, err)
		}
		if changes := rec.take(); len(changes) != 0 {
			t.Errorf("%s: second Ensure changed %q", step.name, changes)
		}
	}

	// A root qdisc that is not Rensei's tbf survives Rate 0.
	run(t, "tc", "-n", ns, "qdisc", "replace", "dev", "rs-vx-4242", "root", "handle", "1:", "tbf",
		"rate", "1mbit", "burst", "32kbit", "latency", "400ms")
	spec := testSpec()
	if err := tun.Ensure(ctx, spec); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if q := rootQdisc(); q.Kind != "tbf" || q.Handle != "1:" {
		t.Errorf("foreign root qdisc: got %s %s, want tbf 1: left alone", q.Kind, q.Handle)
	}
}

// The kernel refuses a second device with the same (vni, port); Ensure says so
// and leaves the other device alone.
func TestEnsureVNIInUse(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	addBridge(t, ns, "rs-br-4242")
	tun, _ := newTunnels(t, ns)
	run(t, "ip", "-n", ns, "link", "add", "vx-other", "type", "vxlan", "id", "4242", "dstport", "4789")
	err := tun.Ensure(testCtx(t), testSpec())
	if err == nil || !strings.Contains(err.Error(), "vni 4242 port 4789 already used") {
		t.Fatalf("Ensure with the vni taken: got %v", err)
	}
	if got := showLink(t, ns, "vx-other"); got.LinkInfo.Data.ID != 4242 || got.Alias != "" {
		t.Errorf("other device changed: %+v", got)
	}
}
