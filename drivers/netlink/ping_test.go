package netlink

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/drivers"
)

// overlay joins two fresh namespaces by VXLAN devices Ensure makes, each
// enslaved to a bridge holding an overlay address (198.19.0.1 and .2/24),
// as Docker's bridge and Rensei's tunnel do on two hosts.
func overlay(t *testing.T) (l lab, a, b *Tunnels) {
	t.Helper()
	l = newLab(t)
	ctx := testCtx(t)
	var tuns [2]*Tunnels
	for i, ns := range []string{l.a, l.b} {
		addBridge(t, ns, "rs-br-9")
		run(t, "ip", "-n", ns, "link", "set", "rs-br-9", "mtu", "1450")
		run(t, "ip", "-n", ns, "addr", "add", []string{"198.19.0.1", "198.19.0.2"}[i]+"/24", "dev", "rs-br-9")
		tun, _ := newTunnels(t, ns)
		spec := drivers.TunnelSpec{
			Name: "rs-vx-9", VNI: 9, Local: underlay(i + 1), Port: 4789, Bridge: "rs-br-9", MTU: 1450,
			Peers: []string{underlay(2 - i)}, Owner: "demo/net",
		}
		if err := tun.Ensure(ctx, spec); err != nil {
			t.Fatalf("Ensure in %s: %v", ns, err)
		}
		tuns[i] = tun
	}
	return l, tuns[0], tuns[1]
}

// TestPing probes an overlay link from inside a namespace: a small echo
// and a full-size one with don't-fragment pass on a healthy link; each of
// the three ways a link breaks is seen: a peer's FDB entry removed (no
// reply), the underlay's MTU lowered (small passes, full-size does not:
// an MTU black hole), the underlay down (no reply); and each recovery is
// seen at once (no cached path MTU hides it).
func TestPing(t *testing.T) {
	t.Parallel()
	l, a, _ := overlay(t)
	ctx := testCtx(t)
	src, dst := netip.MustParseAddr("198.19.0.1"), netip.MustParseAddr("198.19.0.2")
	small := Echo{Dev: "rs-br-9", Src: src, Dst: dst, Size: 84, Timeout: 2 * time.Second}
	full := Echo{Dev: "rs-br-9", Src: src, Dst: dst, Size: 1450, DF: true, Timeout: time.Second}
	expect := func(what string, e Echo, ok bool) error {
		t.Helper()
		rtt, err := a.Ping(ctx, e)
		switch {
		case ok && err != nil:
			t.Errorf("%s: %v", what, err)
		case !ok && err == nil:
			t.Errorf("%s: got a reply in %s, want none", what, rtt)
		case ok:
			t.Logf("%s: rtt %s", what, rtt)
			if rtt <= 0 || rtt > time.Second {
				t.Errorf("%s: rtt %s", what, rtt)
			}
		default:
			t.Logf("%s: %v", what, err)
		}
		return err
	}
	expect("healthy, small", small, true)
	expect("healthy, full size with DF", full, true)

	// Larger than the bridge's own MTU with DF: refused at once.
	big := full
	big.Size = 1500
	if err := expect("larger than the bridge's MTU", big, false); err != nil && errors.Is(err, ErrNoReply) {
		t.Errorf("larger than the bridge's MTU: want a local error, got %v", err)
	}

	run(t, "bridge", "-n", l.a, "fdb", "del", "00:00:00:00:00:00", "dev", "rs-vx-9", "dst", underlay(2))
	run(t, "ip", "-n", l.a, "neigh", "flush", "dev", "rs-br-9")
	if err := expect("FDB entry removed", small, false); err != nil && !errors.Is(err, ErrNoReply) {
		var u *UnreachableError
		if !errors.As(err, &u) {
			t.Errorf("FDB entry removed: %v", err)
		}
	}
	run(t, "bridge", "-n", l.a, "fdb", "append", "00:00:00:00:00:00", "dev", "rs-vx-9", "dst", underlay(2))
	expect("FDB entry back", small, true)

	// An MTU black hole: the peer's underlay takes 1400 bytes, the
	// encapsulated full-size packet is 1500.
	run(t, "ip", "-n", l.b, "link", "set", "eth0", "mtu", "1400")
	expect("underlay MTU lowered, small", small, true)
	if err := expect("underlay MTU lowered, full size with DF", full, false); err != nil && !errors.Is(err, ErrNoReply) {
		t.Errorf("black hole: want no reply, got %v", err)
	}
	// Our own underlay lowered: the VXLAN device answers "fragmentation needed".
	run(t, "ip", "-n", l.b, "link", "set", "eth0", "mtu", "1500")
	run(t, "ip", "-n", l.a, "link", "set", "eth0", "mtu", "1400")
	err := expect("own underlay MTU lowered, full size with DF", full, false)
	var fn *FragNeededError
	if err != nil && !errors.As(err, &fn) && !errors.Is(err, ErrNoReply) {
		t.Errorf("own underlay MTU lowered: %v", err)
	}
	run(t, "ip", "-n", l.a, "link", "set", "eth0", "mtu", "1500")
	expect("MTU restored, full size with DF", full, true)

	run(t, "ip", "-n", l.b, "link", "set", "eth0", "down")
	expect("underlay down", small, false)
	run(t, "ip", "-n", l.b, "link", "set", "eth0", "up")
	expect("underlay up", small, true)
}

// TestPingConcurrent: concurrent echoes from one namespace each get their
// own reply.
func TestPingConcurrent(t *testing.T) {
	t.Parallel()
	_, a, _ := overlay(t)
	ctx := testCtx(t)
	e := Echo{Dev: "rs-br-9", Src: netip.MustParseAddr("198.19.0.1"), Dst: netip.MustParseAddr("198.19.0.2"), Size: 1450, DF: true, Timeout: 2 * time.Second}
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			_, err := a.Ping(ctx, e)
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestChecksum(t *testing.T) {
	// An echo request's checksum makes the sum over the message 0xffff.
	b := echoRequest(0x1234, 1, 64)
	if got := checksum(b); got != 0 {
		t.Errorf("checksum over a checksummed message = %#x, want 0", got)
	}
}
