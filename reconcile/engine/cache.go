package engine

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rensei-dev/rensei/drivers"
)

// The watch-fed cache of live state, as Kubernetes informers keep one:
// each host's lists (containers, networks, volumes, tunnels) and its probe
// are kept between passes and taken again only when the host's watch
// (Docker events, netlink subscriptions) says they may have changed, when
// the watch broke or was made again (a gap), when Rensei itself changed
// that kind of object on the host (every Ensure and Delete goes through the
// cache), and on schedule (Resync). An idle pass reads memory.
//
// The cache never answers for a host whose watch is down: lists go to the
// host until the watch is back. A scheduled relist compares what it finds
// with what the cache held; a difference that no event announced means an
// event was missed: it is counted (CacheStats.Stale), logged, and wakes a
// pass, which then sees the truth.

// Change says which of a host's cached answers may be stale.
type Change uint8

// What a change may have changed.
const (
	ContainersChanged Change = 1 << iota
	NetworksChanged
	VolumesChanged
	TunnelsChanged
	ProbeChanged
	// AllChanged is a gap: anything may have changed.
	AllChanged = ContainersChanged | NetworksChanged | VolumesChanged | TunnelsChanged | ProbeChanged
)

// DefaultResync is how often every cached host is listed again whatever
// its watch said.
const DefaultResync = 5 * time.Minute

// CacheOptions tune the cache of live state.
type CacheOptions struct {
	// Off lists every kind on every host on every pass (no cache); events
	// only wake passes up.
	Off bool
	// Resync is how often each host is listed again and compared with
	// the cache (default DefaultResync, jittered by ±10%).
	Resync time.Duration
}

// CacheStats counts what the caches of a set of hosts did since they were
// made. They only grow.
type CacheStats struct {
	// Hits are lists (and probes) answered from memory.
	Hits int64 `json:"hits"`
	// Lists are lists (and probes) that went to a host: the first, after
	// a change, a gap, a write, on schedule, or while its watch was down.
	Lists int64 `json:"lists"`
	// Lookups are look-ups of the containers a watch said changed, in
	// place of a list of all of them.
	Lookups int64 `json:"lookups"`
	// Resyncs are scheduled relists of a host.
	Resyncs int64 `json:"resyncs"`
	// Gaps are watch failures (the host is listed until the watch is
	// back, and then everything afresh).
	Gaps int64 `json:"gaps"`
	// Stale counts relists that found the cache wrong although no event
	// said anything changed: an event was missed.
	Stale int64 `json:"stale"`
	// Idle counts passes answered whole from memory: nothing changed
	// since a pass that found nothing to do (see Pass).
	Idle int64 `json:"idle"`
	// Partial counts passes that planned only the environments whose
	// desired state changed since a pass that found nothing to do, on the
	// hosts as it saw them (see Pass).
	Partial int64 `json:"partial"`
}

// Cache is the watch-fed cache of the live state of a set of hosts. Wrap
// gives a host's drivers that answer List (and Probe) from it; Changed
// tells it what a host's watch saw. It is safe for concurrent use.
type Cache struct {
	opts  CacheOptions
	log   *slog.Logger
	wake  func()
	mu    sync.Mutex
	hosts map[string]*hostCache

	hits, lists, lookups, resyncs, gaps, stale, idle, partial atomic.Int64

	memo idleMemo
}

// NewCache returns an empty cache. wake, when not nil, is called when a
// scheduled relist found the cache wrong (a pass should look now). A nil
// log discards.
func NewCache(opts CacheOptions, log *slog.Logger, wake func()) *Cache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if wake == nil {
		wake = func() {}
	}
	return &Cache{opts: opts, log: log, wake: wake, hosts: map[string]*hostCache{}}
}

// Stats returns the counters so far.
func (c *Cache) Stats() CacheStats {
	if c == nil {
		return CacheStats{}
	}
	return CacheStats{Hits: c.hits.Load(), Lists: c.lists.Load(), Resyncs: c.resyncs.Load(), Gaps: c.gaps.Load(), Stale: c.stale.Load(), Idle: c.idle.Load(),
		Partial: c.partial.Load(), Lookups: c.lookups.Load()}
}

// cached kinds, indexes of hostCache.entries.
const (
	kContainers = iota
	kNetworks
	kVolumes
	kTunnels
	kProbe
	nKinds
)

var kindNames = [nKinds]string{"containers", "networks", "volumes", "tunnels", "probe"}

// hostCache holds one host's answers.
type hostCache struct {
	c       *Cache
	key     string
	inner   drivers.Host
	mu      sync.Mutex
	down    map[string]bool // watch sources ("docker", "netlink") that are down
	watched bool            // at least one source was declared (Watching)
	entries [nKinds]entry
	// version changes whenever an answer may have: a change, a new list.
	version uint64
}

// entry is one cached answer.
type entry struct {
	have  bool   // value is current as far as the watch knows, but for stale
	gen   uint64 // bumped by every change, so a list racing one is not kept
	check bool   // the next list compares with value (scheduled resync)
	value any    // []drivers.Container, ..., drivers.HostStatus
	// stale are the containers (by ID, and by name: those Rensei itself
	// made or removed) that changed since value was listed, when the
	// driver can look them up (drivers.ContainerLookup): only they are
	// taken again, and value patched with them.
	stale staleSet
}

// staleSet names the objects a cached list must take again.
type staleSet struct{ ids, names map[string]bool }

func (s staleSet) empty() bool { return len(s.ids)+len(s.names) == 0 }
func (s staleSet) size() int   { return len(s.ids) + len(s.names) }

// maxStale is how many stale containers a host's cache looks up before
// it lists them all instead.
const maxStale = 256

// Wrap returns h with drivers that answer List and Probe from the cache
// and tell it of every Ensure and Delete, for the host key. Until the
// host's watch is declared up (Watching), nothing is cached. Optional
// interfaces the drivers implement are kept (drivers.Names,
// drivers.VolumeMounts, drivers.TunnelBulkDeleter, a tunnel ping).
func (c *Cache) Wrap(key string, h drivers.Host) drivers.Host {
	hc := &hostCache{c: c, key: key, inner: h, down: map[string]bool{}}
	c.mu.Lock()
	c.hosts[key] = hc
	c.mu.Unlock()
	out := h
	out.Containers = cachedContainers{h.Containers, hc}
	out.Networks = cachedNetworks{h.Networks, hc}
	out.Volumes = cachedVolumes{h.Volumes, hc}
	if h.Tunnels != nil {
		out.Tunnels = wrapTunnels(h.Tunnels, hc)
	}
	if h.Probe != nil {
		out.Probe = hc.probe
	}
	return out
}

// Hosts wraps every host of hs (keyed "site/host") with the cache, as
// ConnectWatching does, for a deployment scope. The watches are the
// caller's: it tells the cache what they see (Watching, Changed).
func (c *Cache) Hosts(hs map[string]drivers.Host, scope string) *Hosts {
	out := &Hosts{Drivers: map[string]drivers.Host{}, Scope: scope, cache: c}
	for key, h := range hs {
		out.Drivers[key] = c.Wrap(key, h)
	}
	return out
}

// host returns the cache of key, or nil.
func (c *Cache) host(key string) *hostCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hosts[key]
}

// Watching declares that source (a name: "docker", "netlink") watches the
// host key and is up (or down): while any declared source of a host is
// down, its answers come from the host, not from memory.
func (c *Cache) Watching(key, source string, up bool) {
	hc := c.host(key)
	if hc == nil {
		return
	}
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if !up && hc.watched && !hc.down[source] {
		c.gaps.Add(1)
	}
	hc.watched = true
	hc.down[source] = !up
}

// Changed tells the cache what a host's watch saw; a gap also counts.
func (c *Cache) Changed(key string, what Change) {
	hc := c.host(key)
	if hc == nil {
		return
	}
	hc.invalidate(what)
}

// ChangedContainers tells the cache that the host's watch saw a change of
// these containers only (by ID): when the driver can look containers up,
// only they are taken again; otherwise the whole list is.
func (c *Cache) ChangedContainers(key string, ids ...string) {
	hc := c.host(key)
	if hc == nil {
		return
	}
	hc.invalidateContainers(ids, nil)
}

// invalidateContainers marks some containers stale. It does not change the
// version: looking them up does, when they differ from what the cache holds
// (the echo of Rensei's own change finds them as it left them).
func (hc *hostCache) invalidateContainers(ids, names []string) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	e := &hc.entries[kContainers]
	e.gen++
	if !e.have {
		return // all of them are listed next
	}
	if _, ok := hc.inner.Containers.(drivers.ContainerLookup); !ok || e.stale.size()+len(ids)+len(names) > maxStale {
		e.have, e.stale = false, staleSet{}
		hc.version++
		return
	}
	if e.stale.ids == nil {
		e.stale = staleSet{ids: map[string]bool{}, names: map[string]bool{}}
	}
	for _, id := range ids {
		e.stale.ids[id] = true
	}
	for _, n := range names {
		e.stale.names[n] = true
	}
}

// refresh looks up the stale containers and patches the cached list with
// them; the version changes only when one differs from what was cached.
// When a change races the look-up, they stay stale (a list asked now
// takes them all).
func (hc *hostCache) refresh(ctx context.Context) {
	hc.mu.Lock()
	e := &hc.entries[kContainers]
	if e.stale.empty() || !e.have || e.check || !hc.trusted() {
		hc.mu.Unlock()
		return
	}
	ids, names := slices.Sorted(maps.Keys(e.stale.ids)), slices.Sorted(maps.Keys(e.stale.names))
	gen := e.gen
	hc.mu.Unlock()
	found, err := hc.inner.Containers.(drivers.ContainerLookup).Lookup(ctx, ids, names)
	hc.c.lookups.Add(1)
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if e.gen != gen {
		return
	}
	if err != nil {
		e.have, e.stale = false, staleSet{}
		hc.version++
		return
	}
	if next, changed := patchContainers(e.value.([]drivers.Container), ids, names, found); changed {
		e.value = next
		hc.version++
	}
	e.stale = staleSet{}
}

// patchContainers is list with the containers of ids and names (and of
// found) replaced by found, and whether that changed anything.
func patchContainers(list []drivers.Container, ids, names []string, found []drivers.Container) ([]drivers.Container, bool) {
	dropID, dropName := map[string]bool{}, map[string]bool{}
	for _, id := range ids {
		dropID[id] = true
	}
	for _, n := range names {
		dropName[n] = true
	}
	for _, c := range found {
		dropID[c.ID], dropName[c.Name] = true, true
	}
	next := make([]drivers.Container, 0, len(list)+len(found))
	gone := map[string]drivers.Container{}
	for _, c := range list {
		if dropID[c.ID] || dropName[c.Name] {
			gone[c.ID] = c
			continue
		}
		next = append(next, c)
	}
	changed := false
	for _, c := range found {
		if old, ok := gone[c.ID]; !ok || !reflect.DeepEqual(old, c) {
			changed = true
		}
		delete(gone, c.ID)
		next = append(next, c)
	}
	if !changed && len(gone) == 0 {
		return list, false
	}
	return next, true
}

func (hc *hostCache) invalidate(what Change) {
	if what == 0 {
		return // nothing may have changed: the version stays
	}
	hc.mu.Lock()
	defer hc.mu.Unlock()
	hc.version++
	for k := range nKinds {
		if what&(1<<k) != 0 {
			e := &hc.entries[k]
			e.have, e.stale = false, staleSet{}
			e.gen++
		}
	}
}

// trusted reports whether answers may come from memory.
func (hc *hostCache) trusted() bool {
	if hc.c.opts.Off || !hc.watched {
		return false
	}
	for _, d := range hc.down {
		if d {
			return false
		}
	}
	return true
}

// get answers kind k from memory when it can, otherwise with list,
// keeping the answer when no change raced it.
func (hc *hostCache) get(k int, list func() (any, error)) (any, error) {
	hc.mu.Lock()
	e := &hc.entries[k]
	if e.have && !e.check && e.stale.empty() && hc.trusted() {
		v := e.value
		hc.mu.Unlock()
		hc.c.hits.Add(1)
		return v, nil
	}
	gen, check, old := e.gen, e.check && e.have, e.value
	hc.mu.Unlock()

	v, err := list()
	hc.c.lists.Add(1)
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if err != nil {
		if e.gen == gen {
			e.have, e.check = false, false
		}
		return nil, err
	}
	if check && e.gen == gen {
		if diff := differ(k, old, v); diff != "" {
			hc.c.stale.Add(1)
			hc.c.log.Warn("cache was wrong: a change was not announced by the host's watch; the relist repairs it",
				"host", hc.key, "kind", kindNames[k], "name", diff)
			defer hc.c.wake()
		}
	}
	if e.gen == gen && hc.trusted() && kept(k, v) {
		// The Docker driver interns containers' labels and names (a
		// fleet's thousands of containers repeat them): what the cache
		// keeps between passes holds each once.
		e.have, e.check, e.value, e.stale = true, false, v, staleSet{}
		hc.version++
	}
	return v, nil
}

// stamp returns the host's version when every answer its drivers give
// comes from memory (watch up, nothing stale): the same version later
// means the same answers.
func (hc *hostCache) stamp() (uint64, bool) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if !hc.trusted() {
		return 0, false
	}
	for k := range nKinds {
		switch {
		case k == kTunnels && hc.inner.Tunnels == nil, k == kProbe && hc.inner.Probe == nil:
			continue
		case !hc.entries[k].have || hc.entries[k].check || !hc.entries[k].stale.empty():
			return 0, false
		}
	}
	return hc.version, true
}

// stamps returns the stamp of every host of hs, or false when one has none
// (or is not in the cache). Stale containers are looked up first.
func (c *Cache) stamps(ctx context.Context, hs map[string]drivers.Host) (map[string]uint64, bool) {
	if c == nil {
		return nil, false
	}
	out := make(map[string]uint64, len(hs))
	for key := range hs {
		hc := c.host(key)
		if hc == nil {
			return nil, false
		}
		hc.refresh(ctx)
		v, ok := hc.stamp()
		if !ok {
			return nil, false
		}
		out[key] = v
	}
	return out, true
}

// cached returns the cache the hosts' drivers answer from: the one
// ConnectWatching made, or, for a subset of those hosts (a daemon's
// leased hosts), the one their drivers share; nil when there is none.
func (h *Hosts) cached() *Cache {
	if h == nil {
		return nil
	}
	if h.cache != nil {
		return h.cache
	}
	var c *Cache
	for _, d := range h.Drivers {
		w, ok := d.Containers.(cachedContainers)
		if !ok || c != nil && w.hc.c != c {
			return nil
		}
		c = w.hc.c
	}
	return c
}

// kept reports whether an answer may be kept: an unreachable probe is
// asked again next time.
func kept(k int, v any) bool {
	if st, ok := v.(drivers.HostStatus); ok && k == kProbe {
		return st.Reachable
	}
	return true
}

// resync lists every kind the host has cached again and compares.
func (hc *hostCache) resync(ctx context.Context) {
	hc.c.resyncs.Add(1)
	hc.mu.Lock()
	for k := range nKinds {
		hc.entries[k].check = hc.entries[k].have
	}
	hc.mu.Unlock()
	h := hc.inner
	if h.Probe != nil {
		if st := hc.probe(ctx); !st.Reachable {
			return
		}
	}
	cachedContainers{h.Containers, hc}.List(ctx)
	cachedNetworks{h.Networks, hc}.List(ctx)
	cachedVolumes{h.Volumes, hc}.List(ctx)
	if h.Tunnels != nil {
		cachedTunnels{h.Tunnels, hc}.List(ctx)
	}
}

// Resync lists every host of the cache again now and compares with what
// the cache held, as the schedule does; hosts in parallel.
func (c *Cache) Resync(ctx context.Context) {
	c.mu.Lock()
	hosts := slices.Collect(maps.Values(c.hosts))
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, hc := range hosts {
		wg.Go(func() { hc.resync(ctx) })
	}
	wg.Wait()
}

// Run relists every host of the cache on schedule until ctx ends, each
// host on its own jittered clock.
func (c *Cache) Run(ctx context.Context) {
	c.mu.Lock()
	hosts := slices.Collect(maps.Values(c.hosts))
	c.mu.Unlock()
	for _, hc := range hosts {
		go func() {
			for {
				d := c.opts.Resync
				d += time.Duration((rand.Float64()*0.2 - 0.1) * float64(d))
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
				hc.resync(ctx)
			}
		}()
	}
}

func (hc *hostCache) probe(ctx context.Context) drivers.HostStatus {
	v, _ := hc.get(kProbe, func() (any, error) { return hc.inner.Probe(ctx), nil })
	return v.(drivers.HostStatus)
}

// differ names the first objects (at most three) that two answers of kind
// k disagree on, or "" when they agree. Order does not matter.
func differ(k int, a, b any) string {
	switch k {
	case kContainers:
		return differBy(a.([]drivers.Container), b.([]drivers.Container), func(c drivers.Container) string { return c.Name })
	case kNetworks:
		return differBy(a.([]drivers.Network), b.([]drivers.Network), func(n drivers.Network) string { return n.Name })
	case kVolumes:
		return differBy(a.([]drivers.Volume), b.([]drivers.Volume), func(v drivers.Volume) string { return v.Name })
	case kTunnels:
		return differBy(a.([]drivers.Tunnel), b.([]drivers.Tunnel), func(t drivers.Tunnel) string { return t.Name })
	case kProbe:
		// A version upgrade under a running watch is not a missed event.
		x, y := a.(drivers.HostStatus), b.(drivers.HostStatus)
		x.DockerVersion, y.DockerVersion = "", ""
		if x != y {
			return "probe"
		}
	}
	return ""
}

func differBy[T any](a, b []T, name func(T) string) string {
	byName := make(map[string]T, len(a))
	for _, x := range a {
		byName[name(x)] = x
	}
	var names []string
	for _, y := range b {
		x, ok := byName[name(y)]
		delete(byName, name(y))
		if !ok || !reflect.DeepEqual(x, y) {
			names = append(names, name(y))
		}
	}
	for n := range byName {
		names = append(names, n)
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("and %d more", len(names)-3))
	}
	return strings.Join(names, ", ")
}
