package engine

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// idleMemo remembers the last pass that found nothing to do on hosts
// whose every answer came from the cache. The next pass, when nothing
// changed since (the same desired state, and on no host a change its
// watch reported, Rensei made, or a relist found: the cache's versions are
// the same), would observe the same objects and plan nothing again: it is
// answered from the memo, without observing, re-placing or planning. A
// full pass still runs at least every CacheOptions.Resync (a relist also
// changes the versions), and after any change.
type idleMemo struct {
	mu     sync.Mutex
	want   *place.Desired // the desired state the pass was given
	out    Outcome        // what it found: Want, Observed, an empty Plan
	stamps map[string]uint64
	at     time.Time
}

// idleFor returns the outcome of the last pass with nothing to do when
// nothing changed since, for want on the same hosts.
func (c *Cache) idleFor(want *place.Desired, stamps map[string]uint64) (Outcome, bool) {
	if c == nil || stamps == nil {
		return Outcome{}, false
	}
	m := &c.memo
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.want != want || !maps.Equal(m.stamps, stamps) || time.Since(m.at) > c.opts.Resync {
		return Outcome{}, false
	}
	c.idle.Add(1)
	return m.out, true
}

// noteIdle remembers out, a pass of want that found nothing to do (its
// plan as computed, before any guard), when every host answered from the
// cache before it (stamps) and still does with the same versions: what it
// observed is what the cache holds. Anything else forgets the memo.
func (c *Cache) noteIdle(hs map[string]drivers.Host, want *place.Desired, stamps map[string]uint64, out Outcome) {
	if c == nil {
		return
	}
	m := &c.memo
	m.mu.Lock()
	defer m.mu.Unlock()
	m.want, m.stamps = nil, nil
	if stamps == nil || !out.Plan.Converged() {
		return
	}
	if now, ok := c.stamps(hs); !ok || !maps.Equal(now, stamps) {
		return
	}
	m.want, m.stamps, m.at = want, stamps, time.Now()
	m.out = Outcome{Want: out.Want, Observed: out.Observed, Plan: out.Plan}
}

// forgetIdle drops the memo: the pass changed something (or tried).
func (c *Cache) forgetIdle() {
	if c == nil {
		return
	}
	c.memo.mu.Lock()
	c.memo.want, c.memo.stamps = nil, nil
	c.memo.mu.Unlock()
}

// planFor is the first half of a pass: the desired state (placed again
// with the hosts' pins when place is set), the observation and the plan,
// from the memo when nothing changed since a pass with nothing to do.
// It returns the stamps to note the pass with.
func (h *Hosts) planFor(ctx context.Context, want *place.Desired, replace Placer) (Outcome, map[string]uint64) {
	c := h.cached()
	stamps, _ := c.stamps(h.Drivers)
	if out, ok := c.idleFor(want, stamps); ok {
		return out, stamps
	}
	var out Outcome
	out.Want, out.Observed = settle(ctx, want, h, replace)
	out.Plan = plan.Compute(h.Only(out.Want), out.Observed)
	return out, stamps
}
