package netlink

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/drivers"
)

// pingCmd returns a ping command line: iputils' ping, or busybox's.
func pingCmd(tb testing.TB) []string {
	tb.Helper()
	if p, err := exec.LookPath("ping"); err == nil {
		return []string{p}
	}
	if p, err := exec.LookPath("busybox"); err == nil {
		return []string{p, "ping"}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("needs ping or busybox")
	}
	tb.Skip("needs ping or busybox")
	return nil
}

// TestOverlayPing joins two namespaces by the VXLAN devices Ensure makes:
// each has a bridge with an overlay address, and a ping crosses the overlay.
func TestOverlayPing(t *testing.T) {
	t.Parallel()
	ping := pingCmd(t)
	l := newLab(t)
	ctx := testCtx(t)
	for i, ns := range []string{l.a, l.b} {
		addBridge(t, ns, "rs-br-9")
		run(t, "ip", "-n", ns, "addr", "add", "198.19.0."+[]string{"1", "2"}[i]+"/24", "dev", "rs-br-9")
		tun, _ := newTunnels(t, ns)
		spec := drivers.TunnelSpec{
			Name: "rs-vx-9", VNI: 9, Local: underlay(i + 1), Port: 4789, Bridge: "rs-br-9", MTU: 1450,
			Peers: []string{underlay(2 - i)}, Owner: "demo/net",
		}
		if err := tun.Ensure(ctx, spec); err != nil {
			t.Fatalf("Ensure in %s: %v", ns, err)
		}
	}
	args := append([]string{"netns", "exec", l.a}, ping...)
	args = append(args, "-c", "3", "-W", "2", "198.19.0.2")
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ping across the overlay: %v\n%s", err, out)
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	tun, _ := newTunnels(t, l.a)
	ctx := testCtx(t)
	st := tun.Probe(ctx, underlay(1))
	if want := (drivers.HostStatus{Reachable: true, UnderlayFound: true, VXLAN: true}); st != want {
		t.Errorf("Probe(own underlay) = %+v, want %+v", st, want)
	}
	st = tun.Probe(ctx, underlay(2))
	if !st.Reachable || st.UnderlayFound || !st.VXLAN || st.Error == "" {
		t.Errorf("Probe(peer's underlay) = %+v, want reachable, vxlan, underlay not found, an error", st)
	}
	// The throwaway-device path, taken when the module is not listed.
	ok, err := tun.vxlanAvailable(ctx, "/nonexistent")
	if !ok || err != nil {
		t.Errorf("vxlanAvailable(throwaway device) = %v, %v", ok, err)
	}
	if got := linkNames(t, l.a); slices.ContainsFunc(got, func(n string) bool { return strings.HasPrefix(n, "rs-probe-") }) {
		t.Errorf("probe device left behind: %v", got)
	}
}

func TestNewUnknownNamespace(t *testing.T) {
	t.Parallel()
	requireNetns(t)
	_, err := New("rs-t-does-not-exist", "lab/none", nil)
	if !errors.Is(err, drivers.ErrUnreachable) {
		t.Fatalf("New(missing netns): got %v, want ErrUnreachable", err)
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	tun, _ := newTunnels(t, ns)
	ctx, cancel := context.WithCancel(testCtx(t))
	names := ensureN(t, ctx, tun, ns, 2)
	ch, err := tun.Watch(ctx)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	// The initial listing may notify; let it settle, then drain.
	quiet := func(d time.Duration) {
		t.Helper()
		timer := time.NewTimer(d)
		defer timer.Stop()
		for {
			select {
			case <-ch:
			case <-timer.C:
				return
			}
		}
	}
	expect := func(what string, want bool) {
		t.Helper()
		select {
		case _, ok := <-ch:
			if !ok {
				t.Fatalf("%s: channel closed", what)
			}
			if !want {
				t.Errorf("%s: unexpected notification", what)
			}
		case <-time.After(time.Second):
			if want {
				t.Errorf("%s: no notification within 1s", what)
			}
		}
		quiet(100 * time.Millisecond)
	}
	quiet(200 * time.Millisecond)

	run(t, "ip", "-n", ns, "link", "add", "other-br", "type", "bridge")
	expect("unowned device added", false)
	run(t, "bridge", "-n", ns, "fdb", "del", "00:00:00:00:00:00", "dev", names[0], "dst", underlay(2))
	expect("owned fdb entry removed", true)
	run(t, "ip", "-n", ns, "link", "set", names[0], "mtu", "1300")
	expect("owned device changed", true)
	run(t, "ip", "-n", ns, "link", "del", names[1])
	expect("owned device deleted", true)
	run(t, "ip", "-n", ns, "link", "add", "rs-vx-foreign", "type", "vxlan", "id", "77", "dstport", "4789")
	expect("unowned rs- device added", false)
	run(t, "ip", "-n", ns, "link", "del", "rs-vx-foreign")
	expect("any rs- device deleted", true)

	cancel()
	select {
	case _, ok := <-ch:
		for ok {
			_, ok = <-ch
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after ctx ended")
	}
}
