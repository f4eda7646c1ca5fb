package netlink

import (
	"context"
	"fmt"
	"strings"
	"time"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// namePrefix starts the name of every interface Rensei creates.
const namePrefix = "rs-"

// Watch reports changes that may need a reconcile pass in the namespace:
// any link change of an owned device, the deletion of any "rs-" device, and
// any change to the head-end FDB entries of an owned device. Notifications
// are coalesced: the channel holds at most one pending value and the sender
// never blocks, so a slow reader sees one value for a burst of changes. One
// notification usually arrives right away (the initial listing). The
// channel is closed when ctx ends, or early when a subscription fails (the
// caller should then fall back to polling or watch again).
func (t *Tunnels) Watch(ctx context.Context) (<-chan struct{}, error) {
	ns := t.nsFD
	done := make(chan struct{})
	onErr := func(err error) {
		if ctx.Err() == nil { // closing the sockets at the end is no news
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
		ownedIdx := map[int]bool{}
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-links:
				if !ok {
					return
				}
				a := u.Link.Attrs()
				isOwned := owned(u.Link)
				deleted := u.Header.Type == unix.RTM_DELLINK
				switch {
				case deleted:
					delete(ownedIdx, a.Index)
				case isOwned:
					ownedIdx[a.Index] = true
				default:
					delete(ownedIdx, a.Index) // alias removed: no longer Rensei's
				}
				if isOwned || (deleted && strings.HasPrefix(a.Name, namePrefix)) {
					notify()
				}
			case u, ok := <-neighs:
				if !ok {
					return
				}
				if ownedIdx[u.LinkIndex] && isPeerEntry(u.Neigh) {
					notify()
				}
			}
		}
	}()
	return out, nil
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
	s, err := t.subscribe(ctx)
	if err != nil {
		return err
	}
	go func() {
		backoff := watchMinBackoff
		for {
			t.follow(ctx, s, on)
			s.close()
			if ctx.Err() != nil {
				return
			}
			on(Change{Tunnels: true, Addresses: true, Wake: true, Gap: true, Down: true})
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, watchMaxBackoff)
				if s, err = t.subscribe(ctx); err == nil {
					break
				}
				t.log.Debug("watch: subscribing again failed", "action", "watch", "err", err, "backoff", backoff)
			}
			on(Change{Tunnels: true, Addresses: true, Wake: true, Gap: true})
		}
	}()
	return nil
}

// subscriptions are the open subscriptions of WatchChanges.
type subscriptions struct {
	done   chan struct{}
	links  chan vnl.LinkUpdate
	neighs chan vnl.NeighUpdate
	addrs  chan vnl.AddrUpdate
	tc     chan int // ifindex of a qdisc change; closed when its socket fails
	tcSock *nl.NetlinkSocket
	failed chan error // first subscription error
}

func (s *subscriptions) close() {
	close(s.done)
	s.tcSock.Close()
	drain(s.links)
	drain(s.neighs)
	drain(s.addrs)
	drain(s.tc)
}

func (t *Tunnels) subscribe(ctx context.Context) (*subscriptions, error) {
	ns := t.nsFD
	s := &subscriptions{
		done:   make(chan struct{}),
		links:  make(chan vnl.LinkUpdate, 256),
		neighs: make(chan vnl.NeighUpdate, 256),
		addrs:  make(chan vnl.AddrUpdate, 64),
		tc:     make(chan int, 64),
		failed: make(chan error, 1),
	}
	onErr := func(err error) {
		if ctx.Err() != nil {
			return
		}
		select {
		case s.failed <- err:
		default:
		}
	}
	fail := func(what string, err error) (*subscriptions, error) {
		close(s.done)
		if s.tcSock != nil {
			s.tcSock.Close()
		}
		return nil, fmt.Errorf("host %s: subscribe to %s: %w", t.host, what, err)
	}
	// Owned devices are learnt from the existing links (ListExisting).
	if err := vnl.LinkSubscribeWithOptions(s.links, s.done, vnl.LinkSubscribeOptions{Namespace: &ns, ErrorCallback: onErr, ListExisting: true}); err != nil {
		return fail("links", err)
	}
	if err := vnl.NeighSubscribeWithOptions(s.neighs, s.done, vnl.NeighSubscribeOptions{Namespace: &ns, ErrorCallback: onErr}); err != nil {
		drain(s.links)
		return fail("neighbours", err)
	}
	if err := vnl.AddrSubscribeWithOptions(s.addrs, s.done, vnl.AddrSubscribeOptions{Namespace: &ns, ErrorCallback: onErr}); err != nil {
		drain(s.links)
		drain(s.neighs)
		return fail("addresses", err)
	}
	sock, err := nl.SubscribeAt(ns, netns.None(), unix.NETLINK_ROUTE, unix.RTNLGRP_TC)
	if err != nil {
		drain(s.links)
		drain(s.neighs)
		drain(s.addrs)
		return fail("qdiscs", err)
	}
	s.tcSock = sock
	go func() {
		defer close(s.tc)
		for {
			msgs, _, err := sock.Receive()
			if err != nil {
				select {
				case <-s.done:
				default:
					onErr(fmt.Errorf("qdiscs: %w", err))
				}
				return
			}
			for _, m := range msgs {
				switch m.Header.Type {
				case unix.RTM_NEWQDISC, unix.RTM_DELQDISC:
					if len(m.Data) >= nl.SizeofTcMsg {
						select {
						case s.tc <- int(nl.DeserializeTcMsg(m.Data).Ifindex):
						case <-s.done:
							return
						}
					}
				}
			}
		}
	}()
	return s, nil
}

// follow reports the changes of one set of subscriptions until one of them
// fails or ctx ends.
func (t *Tunnels) follow(ctx context.Context, s *subscriptions, on func(Change)) {
	ownedIdx := map[int]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-s.failed:
			t.log.Warn("watch: subscription failed, subscribing again", "action", "watch", "err", err)
			return
		case u, ok := <-s.links:
			if !ok {
				return
			}
			a := u.Link.Attrs()
			isOwned, was := owned(u.Link), ownedIdx[a.Index]
			deleted := u.Header.Type == unix.RTM_DELLINK
			if deleted || !isOwned {
				delete(ownedIdx, a.Index)
			} else {
				ownedIdx[a.Index] = true
			}
			rs := strings.HasPrefix(a.Name, namePrefix)
			if isOwned || was || rs {
				on(Change{Tunnels: true, Wake: isOwned || was || (deleted && rs)})
			}
		case u, ok := <-s.neighs:
			if !ok {
				return
			}
			if isPeerEntry(u.Neigh) {
				on(Change{Tunnels: true, Wake: ownedIdx[u.LinkIndex]})
			}
		case u, ok := <-s.addrs:
			if !ok {
				return
			}
			// Link-local addresses come and go with devices (IPv6
			// autoconfiguration); no underlay is one.
			if !u.LinkAddress.IP.IsLinkLocalUnicast() {
				on(Change{Addresses: true})
			}
		case idx, ok := <-s.tc:
			if !ok {
				return
			}
			on(Change{Tunnels: true, Wake: ownedIdx[idx]})
		}
	}
}
