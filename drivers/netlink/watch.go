package netlink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// namePrefix starts the name of every interface Rensei creates.
const namePrefix = "rs-"

// Watch reports changes that may need a reconcile pass in the namespace:
// any link change of an owned device (or of one that just lost its alias),
// the deletion of any "rs-" device, and any change to the head-end FDB
// entries of an owned device (qdiscs: see WatchChanges). Notifications
// are coalesced: the channel holds at most one pending value and the sender
// never blocks, so a slow reader sees one value for a burst of changes. One
// notification usually arrives right away (the initial listing). The
// channel is closed when ctx ends, or early when a subscription fails (the
// caller should then fall back to polling or watch again).
func (t *Tunnels) Watch(ctx context.Context) (<-chan struct{}, error) {
	ns := t.nsFD
	done := make(chan struct{})
	onErr := func(err error) {
		if ctx.Err() == nil && !notFromKernel(err) { // closing the sockets at the end is no news
			t.log.Warn("watch", "action", "watch", "err", err)
		}
	}

	links := make(chan vnl.LinkUpdate, 128)
	err := vnl.LinkSubscribeWithOptions(links, done, vnl.LinkSubscribeOptions{
		Namespace: &ns, ErrorCallback: onErr, ListExisting: true,
	})
	if err != nil {
		close(done)
		return nil, fmt.Errorf("host %s: subscribe to links: %w", t.host, err)
	}
	neighs := make(chan vnl.NeighUpdate, 128)
	err = vnl.NeighSubscribeWithOptions(neighs, done, vnl.NeighSubscribeOptions{
		Namespace: &ns, ErrorCallback: onErr,
	})
	if err != nil {
		close(done)
		drain(links)
		return nil, fmt.Errorf("host %s: subscribe to neighbours: %w", t.host, err)
	}

	out := make(chan struct{}, 1)
	notify := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	go func() {
		defer close(out)
		// Closing done closes both sockets; the library's readers then
		// close their channels, which must be drained so they never block.
		defer func() { close(done); drain(links); drain(neighs) }()
		devs := ownedDevices{}
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-links:
				if !ok {
					return
				}
				if _, wake := devs.link(u); wake {
					notify()
				}
			case u, ok := <-neighs:
				if !ok {
					return
				}
				if devs[u.LinkIndex] && isPeerEntry(u.Neigh) {
					notify()
				}
			}
		}
	}()
	return out, nil
}

// ownedDevices are the interface indexes of the namespace's owned devices,
// as the link updates of a watch tell them (the existing links first), so
// that FDB and qdisc changes, which name only an index, can be told apart.
type ownedDevices map[int]bool

// link records a link update and says what it means: tunnels when List may
// now answer differently (any "rs-" device, an owned one, one that was
// owned), wake when a pass should start (an owned device changed or lost
// its alias, or an "rs-" device is gone).
//
// Only the device's own messages (family AF_UNSPEC) count. A bridge also
// tells of each of its ports, in messages of family AF_BRIDGE (port state,
// a port leaving: RTM_DELLINK) that carry the port's name and master but
// neither alias nor group; read as the device's state, they made an owned
// port look unowned as soon as it was enslaved, and its FDB and qdisc
// changes then woke nothing. Every change to what List reads (alias,
// group, master, MTU, flags, deletion) comes in a message of the device's
// own.
func (o ownedDevices) link(u vnl.LinkUpdate) (tunnels, wake bool) {
	if u.IfInfomsg.Family != unix.AF_UNSPEC {
		return false, false
	}
	a := u.Link.Attrs()
	isOwned, was := owned(u.Link), o[a.Index]
	deleted := u.Header.Type == unix.RTM_DELLINK
	if deleted || !isOwned {
		delete(o, a.Index)
	} else {
		o[a.Index] = true
	}
	rs := strings.HasPrefix(a.Name, namePrefix)
	return isOwned || was || rs, isOwned || was || deleted && rs
}

// drain empties ch until its sender closes it, in the background.
func drain[T any](ch <-chan T) {
	go func() {
		for range ch {
		}
	}()
}

// Change is what a change in the namespace means for a cache of List and
// Probe: which may now answer differently, and whether a reconcile pass
// should start early.
type Change struct {
	// Tunnels: List may differ (a link, FDB entry or qdisc changed).
	Tunnels bool
	// Addresses: Probe may differ (an address was added or removed).
	Addresses bool
	// Wake: a change to an owned device (or the removal of any "rs-"
	// device): what Watch reports.
	Wake bool
	// Gap: changes may have been missed (a subscription failed, or was
	// made again after failing): everything must be listed again.
	Gap bool
	// Down: a subscription failed and is not made again yet; nothing seen
	// until the next Gap without Down may be trusted.
	Down bool
}

// Watch backoff between attempts to subscribe again.
const (
	watchMinBackoff = 500 * time.Millisecond
	watchMaxBackoff = 30 * time.Second
)

// WatchChanges follows the namespace's links, head-end FDB entries,
// qdiscs and addresses and calls on with what each change means, from one
// goroutine (on must be quick and must not block). It is what a cache of
// List and Probe needs, where Watch only wakes a pass up.
//
// It returns once subscribed, so every change made after it returns is
// reported. It is deliberately broad: any link named "rs-" (the bridges
// too: a tunnel's Bridge is its master's name), any head-end FDB entry,
// any qdisc change counts, since a missed change would make a cache lie;
// a spurious one costs a list. When a subscription fails (the kernel
// dropped messages: ENOBUFS) it reports Change{Gap, Down}, subscribes
// again with bounded backoff and reports Change{Gap}. Subscribing fails
// only at the start; the goroutine ends when ctx does.
func (t *Tunnels) WatchChanges(ctx context.Context, on func(Change)) error {
	sock, err := t.subscribe()
	if err != nil {
		return err
	}
	go func() {
		backoff := watchMinBackoff
		for {
			stop := context.AfterFunc(ctx, func() { sock.Close() }) // unblocks Receive
			err := t.follow(sock, on)
			stop()
			sock.Close()
			if ctx.Err() != nil {
				return
			}
			t.log.Warn("watch: subscription failed, subscribing again", "action", "watch", "err", err)
			on(Change{Tunnels: true, Addresses: true, Wake: true, Gap: true, Down: true})
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, watchMaxBackoff)
				if sock, err = t.subscribe(); err == nil {
					break
				}
				t.log.Debug("watch: subscribing again failed", "action", "watch", "err", err, "backoff", backoff)
			}
			on(Change{Tunnels: true, Addresses: true, Wake: true, Gap: true})
		}
	}()
	return nil
}

// subscribe opens one socket on the namespace's link, neighbour, address
// and qdisc groups and asks it for the existing links (owned devices are
// learnt from them). One socket per group, as the netlink library's
// subscribe functions open, costs a goroutine each holding a 64 KiB
// receive buffer on its stack: 50 MiB of stacks for a daemon watching 100
// hosts.
func (t *Tunnels) subscribe() (*nl.NetlinkSocket, error) {
	sock, err := nl.SubscribeAt(t.nsFD, netns.None(), unix.NETLINK_ROUTE,
		unix.RTNLGRP_LINK, unix.RTNLGRP_NEIGH, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR, unix.RTNLGRP_TC)
	if err != nil {
		return nil, fmt.Errorf("host %s: subscribe to links, neighbours, addresses and qdiscs: %w", t.host, err)
	}
	_ = sock.SetReceiveBufferSize(1<<20, false) // a burst (many devices made at once) must not overflow it
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	if err := sock.Send(req); err != nil {
		sock.Close()
		return nil, fmt.Errorf("host %s: list links: %w", t.host, err)
	}
	return sock, nil
}

// follow reports the changes the socket carries until it fails (the
// error), or is closed.
func (t *Tunnels) follow(sock *nl.NetlinkSocket, on func(Change)) error {
	devs := ownedDevices{}
	for {
		msgs, from, err := sock.Receive()
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if from.Pid != nl.PidKernel {
			continue // another socket's message, not the kernel's: nothing missed
		}
		for _, m := range msgs {
			if m.Header.Flags&unix.NLM_F_DUMP_INTR != 0 {
				return errors.New("the list of links was interrupted by a change")
			}
			hdr := unix.NlMsghdr(m.Header)
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(nl.NativeEndian().Uint32(m.Data[:4])); errno != 0 {
						return fmt.Errorf("list links: %w", syscall.Errno(-errno))
					}
				}
			case unix.RTM_NEWLINK, unix.RTM_DELLINK:
				link, err := vnl.LinkDeserialize(&hdr, m.Data)
				if err != nil {
					continue
				}
				if tunnels, wake := devs.link(vnl.LinkUpdate{IfInfomsg: *nl.DeserializeIfInfomsg(m.Data), Header: hdr, Link: link}); tunnels {
					on(Change{Tunnels: true, Wake: wake})
				}
			case unix.RTM_NEWNEIGH, unix.RTM_DELNEIGH:
				if n, err := vnl.NeighDeserialize(m.Data); err == nil && isPeerEntry(*n) {
					on(Change{Tunnels: true, Wake: devs[n.LinkIndex]})
				}
			case unix.RTM_NEWADDR, unix.RTM_DELADDR:
				// Link-local addresses come and go with devices (IPv6
				// autoconfiguration); no underlay is one.
				if !linkLocalAddr(m.Data) {
					on(Change{Addresses: true})
				}
			case unix.RTM_NEWQDISC, unix.RTM_DELQDISC:
				if len(m.Data) >= nl.SizeofTcMsg {
					on(Change{Tunnels: true, Wake: devs[int(nl.DeserializeTcMsg(m.Data).Ifindex)]})
				}
			}
		}
	}
}

// linkLocalAddr reports whether an address message is about a link-local
// address (IPv6 autoconfiguration makes and drops them with devices).
func linkLocalAddr(data []byte) bool {
	if len(data) < unix.SizeofIfAddrmsg {
		return false
	}
	attrs, err := nl.ParseRouteAttr(data[unix.SizeofIfAddrmsg:])
	if err != nil {
		return false
	}
	for _, a := range attrs {
		if a.Attr.Type == unix.IFA_ADDRESS || a.Attr.Type == unix.IFA_LOCAL {
			if ip := net.IP(a.Value); ip.IsLinkLocalUnicast() {
				return true
			}
		}
	}
	return false
}

// notFromKernel reports whether err is the subscription library saying it
// dropped a message some other socket sent (not the kernel) and went on
// listening: nothing was missed, so it is no failure of the watch. Many
// subscriptions in one namespace (a daemon managing simulated hosts that
// share its namespace) see such messages often.
func notFromKernel(err error) bool {
	return strings.HasPrefix(err.Error(), "Wrong sender portid")
}
