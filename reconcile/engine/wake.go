package engine

import (
	"context"
	"log/slog"
	"sync"

	"github.com/rensei-dev/rensei/schema"
)

// watcher is a driver that reports changes on a channel (netlink tunnels).
type watcher interface {
	Watch(ctx context.Context) (<-chan struct{}, error)
}

// ConnectWatching connects the hosts with Connect and merges their
// wake-ups: the events of each host's drivers (Docker events) and the
// netlink watch of each host's tunnels. A host whose events cannot be
// subscribed (down) is only polled. Watchers stop when ctx ends.
func ConnectWatching(ctx context.Context, topo *schema.Topology, only []string, scope string, log *slog.Logger) (*Hosts, <-chan struct{}, error) {
	hosts, err := Connect(topo, only, scope, log)
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
				Notify(out)
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

// Notify sends a wake-up on ch unless one is pending; it never blocks.
func Notify(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
