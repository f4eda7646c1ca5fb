package engine

import (
	"context"
	"maps"
	"slices"
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
func (c *Cache) noteIdle(ctx context.Context, hs map[string]drivers.Host, want *place.Desired, stamps map[string]uint64, out Outcome) {
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
	if now, ok := c.stamps(ctx, hs); !ok || !maps.Equal(now, stamps) {
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

// lastIdle returns the outcome of the last pass with nothing to do, when
// no host changed since (stamps) and the next full pass is not due: its
// observation is still what the hosts hold.
func (c *Cache) lastIdle(stamps map[string]uint64) (Outcome, bool) {
	if c == nil || stamps == nil {
		return Outcome{}, false
	}
	m := &c.memo
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.want == nil || !maps.Equal(m.stamps, stamps) || time.Since(m.at) > c.opts.Resync {
		return Outcome{}, false
	}
	return m.out, true
}

// planFor is the first half of a pass: the desired state (placed again
// with the hosts' pins when place is set), the observation and the plan,
// from the memo when nothing changed since a pass with nothing to do, and
// for only the environments whose desired state changed when the hosts
// did not (planChanged). It returns the stamps to note the pass with.
func (h *Hosts) planFor(ctx context.Context, want *place.Desired, replace Placer) (Outcome, map[string]uint64) {
	c := h.cached()
	stamps, _ := c.stamps(ctx, h.Drivers)
	if out, ok := c.idleFor(want, stamps); ok {
		return out, stamps
	}
	if prev, ok := c.lastIdle(stamps); ok {
		if out, ok := h.planChanged(ctx, want, replace, prev); ok {
			c.partial.Add(1)
			return out, stamps
		}
	}
	var out Outcome
	out.Want, out.Observed = settle(ctx, want, h, replace)
	out.Plan = plan.Compute(h.Only(out.Want), out.Observed)
	return out, stamps
}

// partial is what a pass that planned only some environments needs to
// prove them converged after apply: the environments, their desired
// objects, and the plan of the pass it started from.
type partial struct {
	envs map[string]bool
	want *place.Desired
	prev plan.Plan
}

// planChanged plans want against prev, the last pass with nothing to do,
// when no host changed since: prev's observation is what the hosts hold,
// and prev's plan still holds for every environment whose desired objects
// are the same in want (in a converged deployment, an environment's live
// objects are its desired ones: nothing of it can differ). Only the
// environments with an object added, removed or changed, including those
// gone from want, are planned; the plan is the one a full pass would make
// (plan.Merge). ok is false when it cannot tell (other hosts, a step of
// prev outside any environment): the caller plans everything.
func (h *Hosts) planChanged(ctx context.Context, want *place.Desired, replace Placer, prev Outcome) (Outcome, bool) {
	if !prev.Plan.PerEnv() {
		return Outcome{}, false
	}
	want, _ = settleOn(want, prev.Observed, replace)
	envs, ok := place.ChangedEnvs(h.Only(prev.Want), h.Only(want))
	if !ok {
		return Outcome{}, false
	}
	sub := h.Only(want).OnlyEnvs(envs)
	delta, looked := h.planEnvs(ctx, sub, envs, prev.Observed)
	out := Outcome{Want: want, Observed: withLookUps(prev.Observed, looked), Plan: plan.Merge(prev.Plan, delta, envs)}
	out.partial = &partial{envs: envs, want: sub, prev: prev.Plan}
	out.Planned = slices.Sorted(maps.Keys(envs))
	if out.Planned == nil {
		out.Planned = []string{} // none: not every one
	}
	return out, true
}

// planEnvs plans sub, the desired objects of envs, against the objects of
// envs in obs. It returns the plan and what it observed (obs kept to envs
// with what planning sub looked up).
func (h *Hosts) planEnvs(ctx context.Context, sub *place.Desired, envs map[string]bool, obs plan.Observed) (plan.Plan, plan.Observed) {
	have := obs.OnlyEnvs(envs)
	lookUp(ctx, h.Drivers, have, h.Scope, sub)
	return plan.Compute(sub, have), have
}

// withLookUps is obs with what a partial pass looked up on each host
// (images, foreign names, a look-up's failure) from looked.
func withLookUps(obs, looked plan.Observed) plan.Observed {
	out := make(plan.Observed, len(obs))
	for key, st := range obs {
		l := looked[key]
		st.Images, st.ForeignNetworks, st.ForeignVolumes = l.Images, l.ForeignNetworks, l.ForeignVolumes
		if st.Err == nil {
			st.Err = l.Err
		}
		out[key] = st
	}
	return out
}
