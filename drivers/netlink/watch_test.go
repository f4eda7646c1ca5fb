package netlink

import (
	"testing"
	"time"
)

// TestWatchChanges: what a cache of List and Probe must hear of, it hears;
// changes to Rensei's devices also wake.
func TestWatchChanges(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	tun, _ := newTunnels(t, ns)
	ctx := testCtx(t)
	names := ensureN(t, ctx, tun, ns, 2)
	ch := make(chan Change, 1024)
	if err := tun.WatchChanges(ctx, func(c Change) { ch <- c }); err != nil {
		t.Fatalf("WatchChanges: %v", err)
	}
	// settle returns everything that came until nothing came for quiet,
	// merged.
	settle := func(quiet time.Duration) (all Change) {
		for {
			select {
			case c := <-ch:
				all.Tunnels, all.Addresses, all.Wake = all.Tunnels || c.Tunnels, all.Addresses || c.Addresses, all.Wake || c.Wake
				all.Gap, all.Down = all.Gap || c.Gap, all.Down || c.Down
			case <-time.After(quiet):
				return all
			}
		}
	}
	settle(2 * time.Second) // the initial listing, and bridges coming up a second after their ports
	expect := func(what string, want Change) {
		t.Helper()
		if got := settle(500 * time.Millisecond); got != want {
			t.Errorf("%s: got %+v, want %+v", what, got, want)
		}
	}
	run(t, "ip", "-n", ns, "link", "add", "other-br", "type", "bridge")
	expect("unrelated device added", Change{})
	run(t, "ip", "-n", ns, "link", "set", names[0], "mtu", "1300")
	expect("owned device changed", Change{Tunnels: true, Wake: true})
	run(t, "bridge", "-n", ns, "fdb", "del", "00:00:00:00:00:00", "dev", names[0], "dst", underlay(2))
	expect("owned fdb entry removed", Change{Tunnels: true, Wake: true})
	run(t, "tc", "-n", ns, "qdisc", "add", "dev", names[1], "root", "tbf", "rate", "1mbit", "burst", "32kbit", "latency", "400ms")
	expect("qdisc added to an owned device", Change{Tunnels: true, Wake: true})
	run(t, "ip", "-n", ns, "link", "set", "rs-br-1000", "mtu", "1400")
	expect("a bridge of Rensei's changed", Change{Tunnels: true})
	run(t, "ip", "-n", ns, "addr", "add", "198.18.0.9/32", "dev", "lo")
	expect("address added", Change{Addresses: true})
	run(t, "ip", "-n", ns, "link", "set", names[1], "alias", "someone-else")
	expect("an owned device lost its alias", Change{Tunnels: true, Wake: true})
	run(t, "ip", "-n", ns, "link", "del", names[0])
	expect("owned device deleted", Change{Tunnels: true, Wake: true})
}
