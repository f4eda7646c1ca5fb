package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/drivers/netlink"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/notify"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/probe"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/schema"
)

// LinkOptions configure overlay probing: every overlay link of the hosts
// this daemon holds is probed from the hosts' side (see package probe)
// after every pass that changed something, every Interval, and every
// Retry while a link is broken. Only hosts Config.Pingers opens a pinger
// for are probed.
type LinkOptions struct {
	// Interval is the time between probe rounds of healthy links (default
	// DefaultProbeInterval); a negative one turns probing off.
	Interval time.Duration
	// Retry is the time between rounds while a link is broken (default
	// DefaultProbeRetry, at most Interval).
	Retry time.Duration
	Probe probe.Options
}

// Defaults of LinkOptions.
const (
	DefaultProbeInterval = 30 * time.Second
	DefaultProbeRetry    = 5 * time.Second
)

// PingerFunc opens what probes the overlay links of one host ("site/host")
// from the host's side; the closer, when not nil, is called when the
// daemon connects anew or stops. NetlinkPingers is the real one.
type PingerFunc func(key string, h schema.Host) (probe.Pinger, func() error, error)

// NetlinkPingers pings from inside the host's network namespace (h.Netns,
// or the daemon's own) through a netlink driver of its own. It needs root.
func NetlinkPingers(key string, h schema.Host) (probe.Pinger, func() error, error) {
	t, err := netlink.New(h.Netns, key, nil)
	if err != nil {
		return nil, nil, err
	}
	return t, t.Close, nil
}

// links is the probing state; owned by the loop goroutine.
type links struct {
	opts    LinkOptions
	tracker *probe.Tracker
	targets []probe.Link
	sig     string
	pingers map[string]probe.Pinger
	conn    *connection // the connection the pingers belong to
	next    time.Time   // the next round (real clock)
	// want is the desired state the targets were found in; with conn and
	// pingers, what makes them change.
	want *place.Desired
	// sound is the observation of an idle pass found without a fault on
	// the targets (nil: none): the same observation again has none.
	sound plan.Observed
	// reports are the links of each host for its report, as of the
	// tracker's version reportsOf.
	reports   map[string][]status.Link
	reportsOf uint64
}

func newLinks(o LinkOptions) *links {
	if o.Interval < 0 {
		return nil
	}
	if o.Interval == 0 {
		o.Interval = DefaultProbeInterval
	}
	if o.Retry <= 0 {
		o.Retry = DefaultProbeRetry
	}
	o.Retry = min(o.Retry, o.Interval)
	return &links{opts: o, tracker: probe.NewTracker()}
}

// probeLinks brings the links up to date after a pass: it finds the links
// of want that the held hosts probe, records those found broken in a
// host's own observed state (a tunnel or FDB entry missing: what the pass
// just repaired), and probes when something changed (a step applied, a
// fault found, the links themselves), when a round is due, or on a new
// connection. It returns the events of links that changed. fresh: the
// pass adopted a new revision, whose changes are not faults.
//
// An idle pass costs next to nothing here: the targets are found again
// only when the desired state, the connection or the hosts probed
// changed, and faults looked for only in an observation not seen sound.
func (d *Daemon) probeLinks(ctx context.Context, want *place.Desired, hosts *engine.Hosts, out engine.Outcome, fresh bool, now time.Time) []notify.Event {
	l := d.links
	if l == nil || ctx.Err() != nil {
		return nil
	}
	newConn := l.conn != d.conn
	changed := false
	if want != l.want || newConn || !l.probing(hosts, d.conn) {
		pingers := map[string]probe.Pinger{}
		for k := range hosts.Drivers {
			if p := d.conn.pingers[k]; p != nil {
				pingers[k] = p
			}
		}
		targets := probe.Targets(want, func(k string) bool { return pingers[k] != nil })
		var sig strings.Builder
		for _, t := range targets {
			fmt.Fprintf(&sig, "%s %s %s %s %d\n", t.Key(), t.Dev, t.Src, t.Dst, t.MTU)
		}
		changed = sig.String() != l.sig
		l.tracker.Retain(targets)
		l.targets, l.sig, l.pingers, l.conn, l.want, l.sound = targets, sig.String(), pingers, d.conn, want, nil
	}
	l.tracker.BeginPass()
	faults := map[string]probe.Change{}
	if !fresh && !sameObservation(out.Observed, l.sound) {
		found := probe.Faults(l.targets, out.Observed)
		l.sound = nil
		if len(found) == 0 && out.Plan.Empty() {
			l.sound = out.Observed // only an idle pass's comes back (the engine's memory)
		}
		known := map[string]bool{}
		if len(found) > 0 {
			for _, s := range l.tracker.All() {
				known[s.Key()] = true
			}
		}
		byKey := map[string]probe.Link{}
		for _, t := range l.targets {
			if _, ok := found[t.Key()]; ok {
				byKey[t.Key()] = t
			}
		}
		for k, why := range found {
			if !known[k] {
				continue // a link new to this pass is made, not repaired
			}
			if c := l.tracker.Fault(byKey[k], why, now); c != nil {
				faults[k] = *c
			}
		}
	}
	due := changed || newConn || len(out.Applied.Done) > 0 || len(faults) > 0 || !time.Now().Before(l.next)
	if len(l.targets) == 0 {
		d.linkMetrics()
		return nil
	}
	var events []notify.Event
	var changes []probe.Change
	if due {
		changes = d.probeRound(ctx, now)
	}
	repaired := map[string]bool{}
	for _, c := range changes {
		if c.Repaired != "" {
			repaired[c.Key()] = true
		}
		events = append(events, linkEvent(c, now))
	}
	for k, c := range faults {
		if !repaired[k] {
			events = append(events, linkEvent(c, now))
		}
	}
	return events
}

// probing reports whether the pingers found for the last targets are
// still those of the hosts held on conn.
func (l *links) probing(hosts *engine.Hosts, conn *connection) bool {
	n := 0
	for k := range hosts.Drivers {
		p := conn.pingers[k]
		if p == nil {
			continue
		}
		if q, ok := l.pingers[k]; !ok || q != p {
			return false
		}
		n++
	}
	return n == len(l.pingers)
}

// sameObservation reports whether a and b are the same map (not merely
// equal): the engine gives back the observation of the pass before,
// unchanged, on a pass answered from its memory. A nil map is none.
func sameObservation(a, b plan.Observed) bool {
	return a != nil && b != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// probeRound probes every target now and records the results; it returns
// the links whose condition changed.
func (d *Daemon) probeRound(ctx context.Context, now time.Time) []probe.Change {
	l := d.links
	pingers := l.pingers
	results := probe.Run(ctx, l.targets, func(h string) probe.Pinger { return pingers[h] }, l.opts.Probe)
	if ctx.Err() != nil {
		return nil // interrupted: nothing learnt
	}
	for _, r := range results {
		state := "ok"
		switch {
		case !r.OK:
			state = "down"
		case !r.MTUOK:
			state = "mtu"
		}
		d.cfg.Metrics.linkProbes.WithLabelValues(state).Inc()
	}
	changes := l.tracker.Update(results, now)
	for _, c := range changes {
		d.log.Log(ctx, levelOf(c), "overlay link "+c.Condition(), "host", c.Host, "peer", c.Peer, "name", c.Network,
			"was", c.From, "err", c.Error, "repaired", c.Repaired)
	}
	l.next = time.Now().Add(l.opts.Interval)
	if l.tracker.Failing() {
		l.next = time.Now().Add(l.opts.Retry)
	}
	d.linkMetrics()
	return changes
}

// probeTick is a scheduled round between passes. It reports whether a
// link changed (then a pass should report it at once).
func (d *Daemon) probeTick(ctx context.Context) bool {
	l := d.links
	if l == nil || l.conn == nil || l.conn != d.conn || len(l.targets) == 0 {
		return false
	}
	changes := d.probeRound(ctx, d.cfg.Now())
	var events []notify.Event
	for _, c := range changes {
		events = append(events, linkEvent(c, d.cfg.Now()))
	}
	d.emit(events)
	d.refreshView()
	return len(changes) > 0
}

// linkEvent is the event of a link whose condition changed.
func linkEvent(c probe.Change, now time.Time) notify.Event {
	e := notify.Event{Time: now.UTC(), Host: c.Host, Env: envOf(c.Network)}
	switch {
	case c.Healthy() && c.Repaired != "":
		e.Kind, e.Severity = notify.LinkUp, notify.Info
		e.Message = fmt.Sprintf("overlay link to %s (%s) repaired: %s", c.Peer, c.Network, c.Repaired)
	case c.Healthy():
		e.Kind, e.Severity = notify.LinkUp, notify.Info
		e.Message = fmt.Sprintf("overlay link to %s (%s) passes traffic again (rtt %s)", c.Peer, c.Network, c.RTT.Round(10*time.Microsecond))
	default:
		e.Kind, e.Severity = notify.LinkDown, notify.Error
		e.Message = fmt.Sprintf("overlay link to %s (%s): %s", c.Peer, c.Network, c.Error)
	}
	return e
}

func levelOf(c probe.Change) slog.Level {
	if c.Healthy() {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// envOf is the environment of "env/network".
func envOf(network string) string {
	env, _, _ := strings.Cut(network, "/")
	return env
}

// linkReport is the host's links for its report: no round-trip times,
// which change every probe.
// The lists are made again only when the tracker changed, and shared by
// the reports of passes until then: a report's links are never changed.
func (d *Daemon) linkReport(host string) []status.Link {
	l := d.links
	if l == nil {
		return nil
	}
	if v := l.tracker.Version(); l.reports == nil || l.reportsOf != v {
		l.reports, l.reportsOf = map[string][]status.Link{}, v
		for _, s := range l.tracker.All() {
			l.reports[s.Host] = append(l.reports[s.Host], status.Link{Peer: s.Peer, Network: s.Network, OK: s.OK, MTUOK: s.MTUOK, MTU: s.MTU,
				Since: s.Since.UTC(), Error: s.Error, Repaired: s.Repaired})
		}
	}
	return l.reports[host]
}

// linkMetrics sets the per-link gauges.
func (d *Daemon) linkMetrics() {
	m := d.cfg.Metrics
	if d.links != nil {
		for _, s := range d.links.tracker.All() {
			if s.Checked.IsZero() {
				continue
			}
			m.linkUp.set(b2f(s.OK), s.Network, s.Host, s.Peer)
			m.linkMTUOK.set(b2f(s.MTUOK), s.Network, s.Host, s.Peer)
			if s.OK {
				m.linkRTT.set(s.RTT.Seconds(), s.Network, s.Host, s.Peer)
			}
		}
	}
	m.linkUp.done()
	m.linkMTUOK.done()
	m.linkRTT.done()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
