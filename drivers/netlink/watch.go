package netlink

import (
	"context"
	"fmt"
	"strings"

	vnl "github.com/vishvananda/netlink"
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
