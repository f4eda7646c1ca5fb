package daemon

import (
	"context"
	"log/slog"
	"sync"

	"github.com/rensei-dev/rensei/reconcile"
	"github.com/rensei-dev/rensei/schema"
)

// watcher is a driver that reports changes on a channel (netlink tunnels).
type watcher interface {
	Watch(ctx context.Context) (<-chan struct{}, error)
}

// DefaultConnect connects the hosts with reconcile.Connect and merges
// their wake-ups: the events of each host's drivers (Docker events) and the
// netlink watch of each host's tunnels. A host whose events cannot be
// subscribed (down) is only polled.
func DefaultConnect(ctx context.Context, topo *schema.Topology, only []string, log *slog.Logger) (*reconcile.Hosts, <-chan struct{}, error) {
	hosts, err := reconcile.Connect(topo, only, log)
	if err != nil {
		return nil, nil, err
	}
	out := make(chan struct{}, 1)
	var wg sync.WaitGroup
	follow := func(ch <-chan struct{}) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ch {
				notify(out)
			}
		}()
	}
	for key, dh := range hosts.Drivers {
		if dh.Events != nil {
			if ch, err := dh.Events(ctx); err == nil {
				follow(ch)
			} else {
				log.Warn("events unavailable; polling only", "host", key, "err", err)
			}
		}
		if w, ok := dh.Tunnels.(watcher); ok {
			if ch, err := w.Watch(ctx); err == nil {
				follow(ch)
			} else {
				log.Warn("netlink watch unavailable; polling only", "host", key, "err", err)
			}
		}
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return hosts, out, nil
}

// notify sends a wake-up unless one is pending.
func notify(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
