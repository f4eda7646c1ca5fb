package engine

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/rensei-dev/rensei/drivers/docker"
	"github.com/rensei-dev/rensei/drivers/netlink"
	"github.com/rensei-dev/rensei/schema"
)

// watcher is a driver that reports changes on a channel (netlink tunnels).
type watcher interface {
	Watch(ctx context.Context) (<-chan struct{}, error)
}

// WatchOptions tune ConnectWatchingWith.
type WatchOptions struct {
	// Cache tunes the watch-fed cache of live state; Cache.Off turns it
	// off: every pass then lists every kind on every host, and the
	// watches only wake passes up.
	Cache CacheOptions
	// NoTunnels leaves every host's tunnels unmanaged, as without root:
	// hosts reached only through their Docker API (simulated fleets,
	// deployments without overlays).
	NoTunnels bool
}

// ConnectWatching connects the hosts with Connect, keeps their live state
// in a watch-fed cache (see Cache: an idle pass reads memory; each host is
// listed again after a change, a gap in its watch, a change Rensei makes,
// and every DefaultResync) and merges their wake-ups: Docker events of
// each engine and the netlink changes of each host's tunnels. A host
// whose watch cannot be set up (down) is listed on every pass while the
// watch is tried again in the background. Watchers stop when ctx ends;
// the channel is then closed.
func ConnectWatching(ctx context.Context, topo *schema.Topology, only []string, scope string, log *slog.Logger) (*Hosts, <-chan struct{}, error) {
	return ConnectWatchingWith(WatchOptions{})(ctx, topo, only, scope, log)
}

// ConnectWatchingWith returns ConnectWatching with opts (for the daemon's
// Config.Connect).
func ConnectWatchingWith(opts WatchOptions) func(ctx context.Context, topo *schema.Topology, only []string, scope string, log *slog.Logger) (*Hosts, <-chan struct{}, error) {
	return func(ctx context.Context, topo *schema.Topology, only []string, scope string, log *slog.Logger) (*Hosts, <-chan struct{}, error) {
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		hosts, err := connect(topo, only, scope, log, !opts.NoTunnels)
		if err != nil {
			return nil, nil, err
		}
		if opts.Cache.Off {
			return hosts, wakeOnly(ctx, hosts, log), nil
		}
		w := newWaker(ctx)
		cache := NewCache(opts.Cache, log, w.notify)
		hosts.cache = cache
		for key, dh := range hosts.Drivers {
			hosts.Drivers[key] = cache.Wrap(key, dh)
		}
		for key := range hosts.Drivers {
			hw := hosts.watch[key]
			if hw.docker != nil {
				watchDocker(ctx, key, hw.docker, cache, w, log)
			}
			if hw.tunnels != nil {
				watchNetlink(ctx, key, hw.tunnels, cache, w, log)
			}
		}
		cache.Run(ctx)
		return hosts, w.out, nil
	}
}

// watchDocker feeds the cache of one host from its engine's events.
func watchDocker(ctx context.Context, key string, d *docker.Driver, cache *Cache, w *waker, log *slog.Logger) {
	on := func(c docker.Change) {
		var what Change
		switch {
		case c.Containers && len(c.ContainerIDs) > 0 && !c.Gap:
			cache.ChangedContainers(key, c.ContainerIDs...)
		case c.Containers:
			what |= ContainersChanged
		}
		if c.Networks {
			what |= NetworksChanged
		}
		if c.Volumes {
			what |= VolumesChanged
		}
		if c.Gap {
			// The engine may have restarted (its version too).
			what = AllChanged
			cache.Watching(key, "docker", !c.Down)
		}
		cache.Changed(key, what)
		if c.Wake {
			w.notify()
		}
	}
	subscribe(ctx, key, "docker", cache, w, log, func() error { return d.Watch(ctx, on) })
}

// watchNetlink feeds the cache of one host from its namespace.
func watchNetlink(ctx context.Context, key string, t *netlink.Tunnels, cache *Cache, w *waker, log *slog.Logger) {
	on := func(c netlink.Change) {
		var what Change
		if c.Tunnels {
			what |= TunnelsChanged
		}
		if c.Addresses {
			what |= ProbeChanged
		}
		if c.Gap {
			what = AllChanged
			cache.Watching(key, "netlink", !c.Down)
		}
		cache.Changed(key, what)
		if c.Wake {
			w.notify()
		}
	}
	subscribe(ctx, key, "netlink", cache, w, log, func() error { return t.WatchChanges(ctx, on) })
}

// Subscribing again, for a host that was down when connected.
const (
	resubscribeMin = time.Second
	resubscribeMax = time.Minute
)

// subscribe starts a host's watch source. Until it is up the host is
// listed on every pass; when it cannot be set up now it is tried again in
// the background with backoff, and once up the host is listed afresh.
func subscribe(ctx context.Context, key, source string, cache *Cache, w *waker, log *slog.Logger, watch func() error) {
	// Up before the watch starts: a failure it reports meanwhile is not
	// overwritten.
	cache.Watching(key, source, true)
	err := watch()
	if err == nil {
		return
	}
	cache.Watching(key, source, false)
	log.Warn("watch unavailable; the host is listed on every pass until it is back", "host", key, "kind", source, "err", err)
	go func() {
		backoff := resubscribeMin
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, resubscribeMax)
			cache.Changed(key, AllChanged)
			cache.Watching(key, source, true)
			if err := watch(); err != nil {
				cache.Watching(key, source, false)
				continue
			}
			log.Info("watch back", "host", key, "kind", source)
			w.notify()
			return
		}
	}()
}

// waker merges wake-ups into one channel, closed when ctx ends.
type waker struct {
	mu     sync.RWMutex
	closed bool
	out    chan struct{}
}

func newWaker(ctx context.Context) *waker {
	w := &waker{out: make(chan struct{}, 1)}
	go func() {
		<-ctx.Done()
		w.mu.Lock()
		w.closed = true
		close(w.out)
		w.mu.Unlock()
	}()
	return w
}

// notify sends a wake-up unless one is pending or the waker closed.
func (w *waker) notify() {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.closed {
		Notify(w.out)
	}
}

// wakeOnly merges the wake-ups of the hosts' drivers (Docker events) and
// of their tunnels' netlink watches, without a cache.
func wakeOnly(ctx context.Context, hosts *Hosts, log *slog.Logger) <-chan struct{} {
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
	return out
}

// Notify sends a wake-up on ch unless one is pending; it never blocks.
func Notify(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
