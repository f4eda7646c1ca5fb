package daemon

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/status"
)

// leased returns the connected hosts this daemon holds the lease of,
// claiming or renewing the leases first (see status.Lease). Hosts another
// daemon holds are left alone: not observed, not changed, not reported.
// While the status branch cannot be written, a host stays this daemon's
// until its lease runs out, and no longer: another daemon may then take it.
// Without a publisher every connected host is the daemon's.
func (d *Daemon) leased(ctx context.Context) *engine.Hosts {
	all := d.conn.hosts
	if d.cfg.Publisher == nil {
		return all
	}
	now := time.Now()
	if d.remoteErr == nil && d.claimDue(all.Drivers, now) {
		d.claims.Add(1)
		keys := slices.Sorted(maps.Keys(all.Drivers))
		c, err := d.cfg.Publisher.Claim(ctx, d.cfg.Holder, keys, d.cfg.LeaseTTL, now)
		if err != nil {
			if ctx.Err() == nil {
				d.cfg.Metrics.gitError("push")
				d.log.Warn("leases not renewed; hosts are enforced until their leases run out", "err", err)
			}
		} else {
			d.adopt(c)
		}
	}
	sub := &engine.Hosts{Drivers: map[string]drivers.Host{}, Scope: all.Scope}
	for k, drv := range all.Drivers {
		if until, ok := d.leases[k]; ok && until.After(now) {
			sub.Drivers[k] = drv
		}
	}
	why := ""
	if len(sub.Drivers) == 0 && len(d.others) > 0 {
		why = "every host is held by another daemon: " + d.othersText()
	}
	d.mu.Lock()
	d.heldElsewhere = why
	d.mu.Unlock()
	d.cfg.Metrics.leases(len(sub.Drivers), len(d.others))
	return sub
}

// claimDue reports whether the leases must be claimed this pass: a
// connected host is not held, or held for half its lease's time or less
// (a claim renews it), another daemon holds a host (it may have released
// it), or a host held is no longer connected. Otherwise a claim would
// write nothing and learn nothing: the leases on the branch are this
// daemon's, live, and no other daemon takes a live lease.
func (d *Daemon) claimDue(hosts map[string]drivers.Host, now time.Time) bool {
	if len(d.others) > 0 || len(d.leases) != len(hosts) {
		return true
	}
	for k := range hosts {
		until, ok := d.leases[k]
		if !ok || until.Sub(now) <= d.cfg.LeaseTTL/2 {
			return true
		}
	}
	return false
}

// adopt records a claim and logs what changed: hosts taken over, hosts
// another daemon holds (once, when that changes).
func (d *Daemon) adopt(c status.Claim) {
	for k, l := range c.Taken {
		d.log.Warn("host taken over: the lease of another daemon expired", "host", k, "from", l.Holder.String(), "expired", l.Expires)
	}
	for k, l := range c.Others {
		if prev, ok := d.others[k]; !ok || prev.Holder.ID != l.Holder.ID {
			d.log.Warn("host held by another daemon: left alone until its lease expires", "host", k, "holder", l.Holder.String(), "expires", l.Expires)
		}
	}
	for k := range d.leases {
		if _, ok := c.Held[k]; !ok {
			delete(d.leases, k)
		}
	}
	maps.Copy(d.leases, c.Held)
	d.others = c.Others
}

// othersText names the hosts other daemons hold and who holds them.
func (d *Daemon) othersText() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(d.others)) {
		l := d.others[k]
		parts = append(parts, fmt.Sprintf("%s by %s until %s", k, l.Holder, l.Expires.Format(time.RFC3339)))
	}
	return strings.Join(parts, "; ")
}

// releaseLeases ends this daemon's leases as it stops, so another daemon
// can take its hosts at once.
func (d *Daemon) releaseLeases() {
	if d.cfg.Publisher == nil || len(d.leases) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.cfg.Publisher.Release(ctx, d.cfg.Holder, slices.Sorted(maps.Keys(d.leases)), time.Now()); err != nil {
		d.log.Warn("leases not released; they expire on their own", "err", err)
		return
	}
	d.leases = map[string]time.Time{}
}
