package netlink

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
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

// TestWatchOwnedAfterPortMessages: a change to an owned device wakes
// however the device came to be watched. A bridge tells of its ports in
// messages of its own (family AF_BRIDGE) that carry neither alias nor group;
// taking one for the device's own state made the watch forget the device
// was Rensei's, and an FDB entry removed afterwards was only found by a
// later pass. The watch here is made first and the device after, as in a
// daemon, and each change comes after the bridge has had its say.
func TestWatchOwnedAfterPortMessages(t *testing.T) {
	t.Parallel()
	for _, api := range []string{"WatchChanges", "Watch"} {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			tun, _ := newTunnels(t, l.a)
			ctx := testCtx(t)
			ch := make(chan Change, 1024)
			if api == "WatchChanges" {
				if err := tun.WatchChanges(ctx, func(c Change) { ch <- c }); err != nil {
					t.Fatalf("WatchChanges: %v", err)
				}
			} else {
				woke, err := tun.Watch(ctx)
				if err != nil {
					t.Fatalf("Watch: %v", err)
				}
				go func() {
					for range woke {
						ch <- Change{Wake: true}
					}
				}()
			}
			vx := ensureN(t, ctx, tun, l.a, 1)[0]
			settle := func(quiet time.Duration) (all Change) {
				for {
					select {
					case c := <-ch:
						all.Tunnels, all.Wake = all.Tunnels || c.Tunnels, all.Wake || c.Wake
					case <-time.After(quiet):
						return all
					}
				}
			}
			settle(2 * time.Second) // creation, enslaving, the bridge's port messages
			steps := []struct {
				what string
				cmd  []string
			}{
				{"owned fdb entry removed", []string{"bridge", "-n", l.a, "fdb", "del", "00:00:00:00:00:00", "dev", vx, "dst", underlay(2)}},
				{"fdb entry added by someone else", []string{"bridge", "-n", l.a, "fdb", "append", "00:00:00:00:00:00", "dev", vx, "dst", underlay(9)}},
				{"owned device down", []string{"ip", "-n", l.a, "link", "set", vx, "down"}},
				{"owned device up", []string{"ip", "-n", l.a, "link", "set", vx, "up"}},
				{"owned fdb entry removed after down and up", []string{"bridge", "-n", l.a, "fdb", "del", "00:00:00:00:00:00", "dev", vx, "dst", underlay(3)}},
				{"owned device's mtu changed", []string{"ip", "-n", l.a, "link", "set", vx, "mtu", "1300"}},
				{"fdb entry added by someone else after an mtu change", []string{"bridge", "-n", l.a, "fdb", "append", "00:00:00:00:00:00", "dev", vx, "dst", underlay(2)}},
				{"qdisc added to an owned device (WatchChanges only)", []string{"tc", "-n", l.a, "qdisc", "add", "dev", vx, "root", "tbf", "rate", "1mbit", "burst", "32kbit", "latency", "400ms"}},
				{"owned device taken off its bridge", []string{"ip", "-n", l.a, "link", "set", vx, "nomaster"}},
			}
			for _, s := range steps {
				run(t, s.cmd[0], s.cmd[1:]...)
				got := settle(500 * time.Millisecond)
				want := Change{Tunnels: true, Wake: true}
				if api == "Watch" {
					want = Change{Wake: s.cmd[0] != "tc"}
				}
				if got != want {
					t.Errorf("%s: got %+v, want %+v", s.what, got, want)
				}
			}
		})
	}
}

// TestWatchIgnoresUserspaceSenders: a message another socket (not the
// kernel) sends to the link and neighbour groups is dropped by the
// subscription library, which says so and listens on; the watch must not
// take that for a failure. It did: every such message was a gap, and
// with a hundred simulated hosts sharing a namespace the cache was
// listing every host on every pass.
func TestWatchIgnoresUserspaceSenders(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	tun, _ := newTunnels(t, ns)
	ctx := testCtx(t)
	ch := make(chan Change, 1024)
	if err := tun.WatchChanges(ctx, func(c Change) { ch <- c }); err != nil {
		t.Fatalf("WatchChanges: %v", err)
	}
	drainFor := func(quiet time.Duration) (all Change) {
		for {
			select {
			case c := <-ch:
				all.Gap, all.Down = all.Gap || c.Gap, all.Down || c.Down
			case <-time.After(quiet):
				return all
			}
		}
	}
	drainFor(time.Second) // the initial listing
	sendToGroups(t, ns, 1<<(unix.RTNLGRP_LINK-1)|1<<(unix.RTNLGRP_NEIGH-1))
	if got := drainFor(time.Second); got.Gap || got.Down {
		t.Errorf("a message from userspace: %+v, want no gap", got)
	}
}

// sendToGroups sends an empty RTM_NEWLINK from a socket of this process,
// inside namespace ns, to the netlink route groups of mask (root may).
func sendToGroups(t *testing.T, ns string, mask uint32) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		t.Fatal(err)
	}
	fd, serr := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err := netns.Set(orig); err != nil {
		panic(err) // this thread must not stay in the test's namespace
	}
	if serr != nil {
		t.Fatal(serr)
	}
	defer unix.Close(fd)
	msg := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], unix.RTM_NEWLINK)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: mask}); err != nil {
		t.Fatalf("send to the groups: %v", err)
	}
}
