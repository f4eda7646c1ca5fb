// Package daemon runs Rensei unattended: it watches a branch of a config
// remote, enforces its latest good revision on every host it is
// responsible for, and records what it found and did as drift reports on
// the status branch. Every pass is computed from scratch (level-triggered);
// Docker events, netlink changes, webhooks and ref changes of a local
// repository only make the next pass start sooner.
//
// A pass with nothing to do costs one ref check of the remote and one list
// call per kind per host: no Jsonnet evaluation (the revision's placement
// is kept until the commit or an environment's active window changes) and
// no Git write (reports are committed only when their content changes).
package daemon

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/notify"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/schema"
)

// Defaults of Config.
const (
	DefaultInterval = 30 * time.Second
	// DefaultMaxBackoff bounds the wait between ref checks of an unreachable remote.
	DefaultMaxBackoff = 5 * time.Minute
	// settle lets a burst of events (die, then destroy) arrive before a pass.
	settle = 150 * time.Millisecond
)

// ConnectFunc builds the drivers of the hosts of topo (only those named in
// only, when it is not empty) and a channel that receives a value when
// something changed on them (nil: none). Watchers stop when ctx ends;
// Close on the returned Hosts releases the connections. Tests inject fake
// hosts through it.
type ConnectFunc func(ctx context.Context, topo *schema.Topology, only []string, scope string, log *slog.Logger) (*engine.Hosts, <-chan struct{}, error)

// Config configures a Daemon. Remote is required.
type Config struct {
	Remote *gitrepo.Remote
	Branch string // default "main"
	// Publisher writes the reports; nil writes none.
	Publisher *status.Publisher
	Interval  time.Duration // between passes, ±10% jitter; default DefaultInterval
	// Hosts limits the daemon to these hosts ("site/host" or "host").
	Hosts []string
	Scope string
	Load  schema.Options
	// Evaluator loads and validates a fetched commit of the cache
	// repository (default: in this process). The rensei command evaluates
	// in a child process that it kills on timeout (engine.Child), since
	// go-jsonnet cannot be interrupted: a runaway config must not keep
	// burning a core.
	Evaluator engine.Evaluator
	Apply     apply.Options
	// Secrets holds the secret values the configuration refers to.
	Secrets *engine.Secrets
	// AllowPrune lets a revision delete more than PruneShare (default
	// engine.DefaultPruneShare) of a host's managed containers, or all of them.
	AllowPrune bool
	PruneShare float64
	// AllowRewind applies a head that does not descend from the enforced
	// commit (a force-push back); without it such a head waits for an
	// approval.
	AllowRewind bool
	// Keyring, when set, is an armored PGP key ring: only heads signed by
	// one of its keys are applied.
	Keyring string
	// AdminKeyring, when set, is the armored PGP key ring of campus IT: a
	// head that changes policy/ or sites/ (against the revision enforced)
	// is applied only when signed by one of its keys. Tenants' keys (in
	// Keyring) may sign everything else.
	AdminKeyring string
	Connect      ConnectFunc // default engine.ConnectWatching
	Metrics      *Metrics    // default: a new set on its own registry
	Log          *slog.Logger
	MaxBackoff   time.Duration // default DefaultMaxBackoff
	// Now is the clock for active windows and report times (default time.Now).
	// Leases always use the real clock.
	Now func() time.Time
	// Holder identifies this daemon in the leases of its hosts on the
	// status branch (default status.NewHolder(Branch)); LeaseTTL is how
	// long a lease lasts unrenewed (default DefaultLeaseTTL, at least
	// four intervals). Without a Publisher there are no leases.
	Holder   status.Holder
	LeaseTTL time.Duration
	// Links configures overlay probing (see LinkOptions); Pingers opens
	// what probes each host's links. Without Pingers nothing is probed;
	// with the default Connect, as root, it defaults to NetlinkPingers
	// (injected hosts, such as fakes, are not probed unless it is set).
	Links   LinkOptions
	Pingers PingerFunc
	// Notifier, when set, is told every event (see Notifier).
	Notifier Notifier
	// Version is this build's version, shown on the status page.
	Version string
}

// DefaultLeaseTTL is how long a host's lease lasts unrenewed by default:
// a daemon that died is taken over this long after its last pass.
const DefaultLeaseTTL = 5 * time.Minute

// Stats counts what the daemon did, for tests and benchmarks.
type Stats struct {
	Passes      int64 // passes run
	RefChecks   int64 // ls-remote or local ref reads
	Fetches     int64 // fetches of the config branch
	Evaluations int64 // revisions loaded (Jsonnet evaluated)
	Commits     int64 // status commits pushed
	// LeaseClaims counts claims of the leases on the status branch: one
	// when a lease is to be acquired or renewed, or another daemon holds a
	// host; none on a pass while this daemon's leases are well within
	// their time.
	LeaseClaims int64
}

// Daemon is the loop. Create it with New, run it with Run.
type Daemon struct {
	cfg Config
	log *slog.Logger

	wake  chan struct{}
	ready atomic.Bool

	passes, refChecks, fetches, evaluations, claims atomic.Int64

	guard engine.PruneGuard

	// Owned by the loop goroutine.
	seen        string    // last head looked at (loaded, refused or held)
	pendingHead string    // head found by this pass's ref check, "" when none
	current     *revision // the revision enforced, nil before the first good one
	refused     *status.Refusal
	conn        *connection
	remoteErr   error
	retryAt     time.Time
	backoff     time.Duration
	refWatcher  *refWatcher
	fellBack    bool                    // fallback to the last enforced revision was tried
	approvals   map[string]bool         // "<commit> <what>" approvals found on the status branch
	pins        place.Pins              // where instances' data was in the last pass
	leases      map[string]time.Time    // hosts this daemon holds, until when
	others      map[string]status.Lease // hosts another daemon holds
	warnings    map[string]string       // faults that did not stop enforcement, by kind
	links       *links                  // overlay probing; nil when off

	// What the page, the API, the gauges and the notifications are made
	// of; owned by the loop goroutine.
	lastReports   map[string]status.Report // this daemon's hosts' reports of the last pass
	seenHosts     map[string]*hostSeen
	viewWant      *place.Desired
	viewRemaining plan.Plan
	viewMemo      viewMemo
	notedRefusal  string    // the refusal last told
	passErr       string    // why the last pass could not run
	busy          bool      // a pass changed something since memory was last given back
	freedAt       time.Time // when it was

	mu             sync.Mutex
	lastPass       time.Time
	lastDuration   time.Duration
	lastResult     string
	convergedHosts int    // hosts converged in the last pass
	heldElsewhere  string // why no host is this daemon's, when none is
	recent         []notify.Event
	snap           *Snapshot
	snapChanged    chan struct{} // closed when snap is replaced
	streams        int           // status page streams open
}

// New checks cfg and returns a daemon that has not started.
func New(cfg Config) (*Daemon, error) {
	if cfg.Remote == nil {
		return nil, errors.New("daemon: no remote")
	}
	if cfg.Branch == "" {
		cfg.Branch = "main"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.PruneShare <= 0 || cfg.PruneShare > 1 {
		cfg.PruneShare = engine.DefaultPruneShare
	}
	if cfg.Connect == nil {
		cfg.Connect = engine.ConnectWatching
		if cfg.Pingers == nil && os.Geteuid() == 0 {
			cfg.Pingers = NetlinkPingers
		}
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Apply.Log == nil {
		cfg.Apply.Log = cfg.Log
	}
	if cfg.Holder.ID == "" {
		cfg.Holder = status.NewHolder(cfg.Branch, "")
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	cfg.LeaseTTL = max(cfg.LeaseTTL, 4*cfg.Interval)
	if cfg.Publisher != nil {
		m := cfg.Metrics
		cfg.Publisher.Fetched = func(d time.Duration, err error) { m.fetched(d, err) }
		if cfg.Publisher.Log == nil {
			cfg.Publisher.Log = cfg.Log
		}
	}
	d := &Daemon{cfg: cfg, log: cfg.Log, wake: make(chan struct{}, 1), guard: engine.PruneGuard{Share: cfg.PruneShare}, approvals: map[string]bool{},
		leases: map[string]time.Time{}, warnings: map[string]string{}, links: newLinks(cfg.Links),
		lastReports: map[string]status.Report{}, seenHosts: map[string]*hostSeen{}, snapChanged: make(chan struct{})}
	d.refreshView()
	return d, nil
}

// Wake makes the next pass start now (or right after the current one).
// It never blocks; wake-ups coalesce.
func (d *Daemon) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Ready reports whether the last pass enforced a revision and at least one
// host converged in it.
func (d *Daemon) Ready() bool { return d.NotReady() == "" }

// NotReady says why the daemon is not ready, or "".
func (d *Daemon) NotReady() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.heldElsewhere != "":
		return d.heldElsewhere
	case !d.ready.Load():
		return "no pass has enforced a revision yet"
	case d.convergedHosts == 0:
		return "no host converged in the last pass (unreachable or failing)"
	}
	return ""
}

// Stats returns the counters so far.
func (d *Daemon) Stats() Stats {
	s := Stats{Passes: d.passes.Load(), RefChecks: d.refChecks.Load(), Fetches: d.fetches.Load(),
		Evaluations: d.evaluations.Load(), LeaseClaims: d.claims.Load()}
	if d.cfg.Publisher != nil {
		s.Commits = d.cfg.Publisher.Commits()
	}
	return s
}

// Run runs passes until ctx ends, then closes the host connections and
// returns nil. A pass under way when ctx ends stops starting new steps;
// steps already started finish or fail on their own (the drivers remove a
// half-made container), so nothing is left half-made and unowned.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.close()
	d.armRefWatcher(ctx)
	for {
		d.Pass(ctx)
		if ctx.Err() != nil {
			d.log.Info("daemon stopped")
			return nil
		}
		if !d.wait(ctx) {
			d.log.Info("daemon stopped")
			return nil
		}
	}
}

// Close releases the leases of a daemon driven by Pass (Run does it when
// it ends) and its host connections: another daemon can take its hosts at once.
func (d *Daemon) Close() { d.close() }

func (d *Daemon) close() {
	d.releaseLeases()
	if d.conn != nil {
		d.conn.close()
		d.conn = nil
	}
	if d.refWatcher != nil {
		d.refWatcher.close()
		d.refWatcher = nil
	}
}

// wait blocks until the next pass is due: the jittered interval, an
// earlier retry of the remote, a wake-up, or a probe round between passes
// that found an overlay link changed. It returns false when ctx ended.
func (d *Daemon) wait(ctx context.Context) bool {
	next := jitter(d.cfg.Interval)
	if !d.retryAt.IsZero() {
		if until := time.Until(d.retryAt); until < next {
			next = max(until, 0)
		}
	}
	timer := time.NewTimer(next)
	defer timer.Stop()
	var hostWake <-chan struct{}
	if d.conn != nil {
		hostWake = d.conn.wake
	}
	var refWake <-chan struct{}
	if d.refWatcher != nil {
		refWake = d.refWatcher.wake
	}
	// Probe rounds between passes: a link that changed is reported by a
	// pass right away.
	var probeC <-chan time.Time
	if l := d.links; l != nil && len(l.targets) > 0 {
		probeC = d.nextProbe()
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-probeC:
			if d.probeTick(ctx) {
				return true
			}
			probeC = d.nextProbe()
			continue
		case <-d.wake:
			// A webhook says the branch moved: ask the remote now, even
			// while backing off after an outage.
			d.retryAt = time.Time{}
		case _, ok := <-hostWake:
			if !ok {
				hostWake = nil
				continue
			}
		case _, ok := <-refWake:
			if !ok {
				refWake = nil
				continue
			}
			d.retryAt = time.Time{}
		}
		// A wake-up: let the rest of the burst arrive, then go.
		select {
		case <-ctx.Done():
			return false
		case <-time.After(settle):
		}
		return true
	}
}

// nextProbe is a channel that fires when the next probe round is due.
func (d *Daemon) nextProbe() <-chan time.Time {
	return time.After(max(time.Until(d.links.next), 0))
}

// jitter returns d ± 10%.
func jitter(d time.Duration) time.Duration {
	spread := int64(d) / 5
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread/2) + time.Duration(rand.Int64N(spread))
}
