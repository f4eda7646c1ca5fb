package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/probe"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/schema"
)

// revision is a loaded, valid revision and its placement.
type revision struct {
	*engine.Revision
	want *place.Desired
	// validUntil is when an environment's active window opens or closes:
	// the placement is recomputed then (no Jsonnet evaluation).
	validUntil time.Time
	// message is the commit message, for approval trailers.
	message string
	// signedByAdmin: the commit verified against the admin key ring.
	signedByAdmin bool
}

// Pass results, as the rensei_passes_total result label.
const (
	ResultConverged = "converged" // every host converged
	ResultChanged   = "drifted"   // drift found; see the reports
	ResultFailed    = "failed"    // a step failed or a host is down
	ResultNoConfig  = "no-config" // no revision could be enforced yet
)

// Pass runs one pass: ref check, load a new head when the branch moved,
// then the engine's pass (observe, plan, guard, apply, plan again), then
// the reports. It returns the result word; errors are logged, counted and
// reported, never fatal. Pass is for tests and benchmarks; it must not be
// called while Run runs.
func (d *Daemon) Pass(ctx context.Context) string {
	start := time.Now()
	d.passes.Add(1)
	result := d.pass(ctx)
	took := time.Since(start)
	d.cfg.Metrics.pass(took, result)
	d.mu.Lock()
	d.lastPass, d.lastDuration, d.lastResult = time.Now(), took, result
	d.mu.Unlock()
	d.emit(d.refusalEvents(d.cfg.Now()))
	d.refreshView()
	d.returnMemory(result)
	d.log.Debug("pass done", "result", result, "duration", took)
	return result
}

// returnMemory gives the memory a busy stretch used back to the system
// when the daemon is idle again, at most once a minute: Go hands freed
// pages back slowly on its own, and after converging a fleet the resident
// size stayed near its peak (198 MiB against a live heap of 88 MB on 100
// hosts). It costs a full collection.
func (d *Daemon) returnMemory(result string) {
	if result != ResultConverged {
		d.busy = true
		return
	}
	if !d.busy || time.Since(d.freedAt) < time.Minute {
		return
	}
	d.busy, d.freedAt = false, time.Now()
	debug.FreeOSMemory()
}

func (d *Daemon) pass(ctx context.Context) string {
	now := d.cfg.Now()
	d.checkRemote(ctx)
	if d.refWatcher == nil {
		d.armRefWatcher(ctx)
	}

	d.recheckHeld(ctx)
	cand := d.current
	var fresh *revision
	if head, ok := d.newHead(); ok {
		rev, err := d.load(ctx, head, now)
		if err != nil {
			d.refuse(d.seen, err, false) // load may have fetched a newer head
		} else {
			fresh, cand = rev, rev
		}
	}
	if cand == nil && d.refused != nil {
		cand = d.fallback(ctx, now)
	}
	if cand == nil {
		d.reportWithoutRevision(ctx, now)
		return ResultNoConfig
	}
	if now.After(cand.validUntil) {
		if err := d.replace(cand, now); err != nil {
			// A window opened (or closed) onto a conflict: keep enforcing
			// the placement from before it, report why, and try again
			// later; one environment must not stop every other one.
			d.refuse(cand.SHA(), fmt.Errorf("placement when an active window opened or closed: %w", err), false)
			cand.validUntil = now.Add(d.cfg.Interval)
		}
	}
	if err := d.connect(ctx, cand.Revision); err != nil {
		d.log.Error("connect", "commit", cand.SHA(), "err", err)
		if fresh != nil {
			d.seen = "" // neither adopted nor refused: load it again next pass
		}
		d.emit(d.passFailure(fmt.Errorf("connect: %w", err), now))
		return ResultFailed
	}
	d.emit(d.passFailure(nil, now))
	hosts := d.leased(ctx)
	opts := engine.Options{Apply: d.cfg.Apply, Log: d.log, Secrets: d.cfg.Secrets, Place: d.placer(cand, now)}
	if fresh != nil {
		opts.Guard = func(p plan.Plan, obs plan.Observed) (plan.Plan, error) { return d.guardFresh(ctx, fresh, p, obs) }
	} else {
		opts.Guard = func(p plan.Plan, obs plan.Observed) (plan.Plan, error) { return d.guardEvery(ctx, cand, p, obs), nil }
	}
	out := engine.Pass(ctx, cand.want, hosts, opts)
	if fresh != nil {
		if out.Held != nil {
			d.hold(fresh.SHA(), status.ApprovePrune, out.Held)
			if d.current == nil {
				d.fallback(ctx, now)
			}
			if d.current == nil {
				d.reportWithoutRevision(ctx, now)
				return ResultNoConfig
			}
			cand = d.current
			if err := d.connect(ctx, cand.Revision); err != nil {
				d.log.Error("connect", "commit", cand.SHA(), "err", err)
				return ResultFailed
			}
			cur := cand
			fresh = nil // held: the enforced revision runs again below
			hosts = d.leased(ctx)
			out = engine.Pass(ctx, cand.want, hosts, engine.Options{Apply: d.cfg.Apply, Log: d.log, Secrets: d.cfg.Secrets, Place: d.placer(cur, now),
				Guard: func(p plan.Plan, obs plan.Observed) (plan.Plan, error) { return d.guardEvery(ctx, cur, p, obs), nil }})
		} else {
			d.current, d.refused = fresh, nil
			d.log.Info("revision adopted", "commit", fresh.SHA())
		}
	}
	if out.Planned != nil {
		d.log.Debug("planned only the environments that changed", "environments", out.Planned)
	}
	// Keep the placement with the hosts' pins: the next pass starts from it.
	cand.want = out.Want
	d.notePins(out.Observed)
	d.cfg.Metrics.drift(out.Plan.Changes())
	if !out.Plan.Empty() {
		d.cfg.Metrics.applied(out.Applied)
	}
	result := ResultConverged
	switch {
	case len(out.Applied.Failed) > 0 || len(out.Remaining.Unreachable) > 0:
		result = ResultFailed
	case !out.Plan.Empty():
		result = ResultChanged
	}
	linkEvents := d.probeLinks(ctx, cand.want, hosts, out, fresh != nil, now)
	reports := d.reports(cand.SHA(), cand.want, hosts, out, now)
	d.publish(ctx, reports)
	d.emit(d.hostEvents(reports, fresh != nil, now))
	d.emit(linkEvents)
	d.keepReports(reports)
	d.notePass(cand.want, out.Observed, out.Remaining, reports, now)
	converged := 0
	for _, r := range reports {
		if r.Converged {
			converged++
		}
	}
	d.mu.Lock()
	d.convergedHosts = converged
	d.mu.Unlock()
	if ctx.Err() == nil {
		d.ready.Store(true) // a revision is enforced
	}
	return result
}

// guardFresh holds a new revision that would prune too much, unless
// pruning is allowed or approved for it.
func (d *Daemon) guardFresh(ctx context.Context, fresh *revision, p plan.Plan, obs plan.Observed) (plan.Plan, error) {
	if why := d.guard.Check(p, obs); why != "" && !d.allowed(ctx, fresh, status.ApprovePrune) {
		return p, errors.New(why)
	}
	return p, nil
}

// fallback is for a daemon (re)started while the head is refused or held:
// it enforces again the commit its hosts' reports on the status branch say
// was enforced, so drift is still repaired. Tried once per daemon.
func (d *Daemon) fallback(ctx context.Context, now time.Time) *revision {
	if d.fellBack || d.cfg.Publisher == nil {
		return nil
	}
	d.fellBack = true
	sha, err := d.cfg.Publisher.LastEnforced(ctx, d.cfg.Hosts)
	if err != nil {
		d.log.Warn("status branch: unreadable reports skipped", "err", err)
		d.warnings["status"] = "status branch: unreadable reports skipped: " + err.Error()
	}
	if sha == "" || sha == d.refused.Commit {
		return nil
	}
	rev, err := d.loadCommit(ctx, sha, now)
	if err != nil {
		d.log.Warn("earlier revision cannot be loaded; nothing is enforced", "commit", sha, "err", err)
		return nil
	}
	d.current = rev
	d.log.Warn("head refused: enforcing the revision enforced before", "commit", sha, "refused", d.refused.Commit)
	return rev
}

// guardEvery runs the prune guard on a pass of the enforced revision:
// a window that closed, a clock that jumped, a host back from an outage.
// On a host where the pass would delete for good more than the guard
// allows, those deletions are held (dropped from the plan; what is
// deleted only to be made again still happens) and reported, until the
// commit is approved (rensei approve, or an approving signed commit) or
// --allow-prune.
func (d *Daemon) guardEvery(ctx context.Context, cand *revision, p plan.Plan, obs plan.Observed) plan.Plan {
	var held []string
	held0 := p
	for _, host := range slices.Sorted(maps.Keys(engine.Deletions(p))) {
		if why := d.guard.Check(held0, obs, host); why != "" {
			held = append(held, why)
			p = d.guard.Hold(p, host)
		}
	}
	if len(held) == 0 || d.allowed(ctx, cand, status.ApprovePrune) {
		if r := d.refused; r != nil && r.Commit == cand.SHA() && r.Awaiting == status.ApprovePrune {
			d.refused = nil // the hold is over
		}
		return held0
	}
	d.hold(cand.SHA(), status.ApprovePrune, errors.New(strings.Join(held, "; ")))
	return p
}

// allowed reports whether what (status.ApprovePrune or ApproveRewind) is
// allowed for rev: by the daemon's flags, by an approving trailer in the
// commit ("Rensei-Approve: prune", from an admin when an admin key ring
// is set), or by an approval on the status branch (rensei approve).
func (d *Daemon) allowed(ctx context.Context, rev *revision, what string) bool {
	switch {
	case what == status.ApprovePrune && d.cfg.AllowPrune, what == status.ApproveRewind && d.cfg.AllowRewind:
		return true
	case approvesIn(rev.message, what) && (d.cfg.AdminKeyring == "" || rev.signedByAdmin):
		return true
	}
	return d.approvedOnBranch(ctx, rev.SHA(), what)
}

// approvedOnBranch looks for an approval on the status branch; a found
// one is remembered.
func (d *Daemon) approvedOnBranch(ctx context.Context, sha, what string) bool {
	if d.cfg.Publisher == nil {
		return false
	}
	key := sha + " " + what
	if d.approvals[key] {
		return true
	}
	ok, err := status.Approved(ctx, d.cfg.Remote, d.cfg.Publisher.Branch, sha, what)
	if err != nil {
		d.log.Warn("status branch: approvals unreadable", "commit", sha, "err", err)
	}
	if ok {
		d.approvals[key] = true
		d.log.Info("approved", "commit", sha, "action", what)
	}
	return ok
}

// approvesIn reports whether a commit message carries the trailer
// "Rensei-Approve: <what>".
func approvesIn(message, what string) bool {
	for _, line := range strings.Split(message, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), "Rensei-Approve") && strings.EqualFold(strings.TrimSpace(v), what) {
			return true
		}
	}
	return false
}

// hold records a commit held back until what is approved, and why.
func (d *Daemon) hold(sha, what string, why error) {
	d.refuse(sha, fmt.Errorf("%w; approve with `rensei approve --commit %s --%s`, a commit carrying the trailer \"Rensei-Approve: %s\", or --allow-%s",
		why, sha, what, what, what), true)
	d.refused.Awaiting = what
}

// recheckHeld looks again at a held head: once approved, it is loaded
// again (as if new).
func (d *Daemon) recheckHeld(ctx context.Context) {
	r := d.refused
	if r == nil || !r.Held || r.Awaiting == "" || r.Commit == d.currentSHA() {
		return
	}
	if d.approvedOnBranch(ctx, r.Commit, r.Awaiting) || (r.Awaiting == status.ApprovePrune && d.cfg.AllowPrune) {
		d.seen = "" // load it again: the guard now lets it through
	}
}

// checkRemote asks the remote for its head unless it is backing off.
func (d *Daemon) checkRemote(ctx context.Context) {
	if !d.retryAt.IsZero() && time.Now().Before(d.retryAt) {
		return
	}
	d.refChecks.Add(1)
	head, err := d.cfg.Remote.Head(ctx, d.cfg.Branch)
	if errors.Is(err, gitrepo.ErrNoBranch) {
		// The remote answers; the branch is not there (yet). Not an
		// outage: no backoff, and reports are still written.
		if d.remoteErr != nil || d.pendingHead != "" {
			d.log.Warn("branch not found on the remote; the last good revision is still enforced", "commit", d.currentSHA(), "err", err)
		}
		d.remoteErr, d.backoff, d.retryAt = nil, 0, time.Time{}
		d.pendingHead = ""
		return
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		d.cfg.Metrics.gitError("ls-remote")
		if d.backoff == 0 {
			d.backoff = time.Second
		} else {
			d.backoff = min(2*d.backoff, d.cfg.MaxBackoff)
		}
		d.retryAt = time.Now().Add(d.backoff)
		if d.remoteErr == nil || d.remoteErr.Error() != err.Error() {
			d.log.Warn("remote unreachable; the last good revision is still enforced",
				"commit", d.currentSHA(), "err", err, "retry", d.backoff)
		}
		d.remoteErr = err
		d.pendingHead = ""
		return
	}
	if d.remoteErr != nil {
		d.log.Info("remote reachable again", "commit", head)
	}
	d.remoteErr, d.backoff, d.retryAt = nil, 0, time.Time{}
	d.pendingHead = head
}

// newHead returns the head to load, when the branch moved since the last look.
func (d *Daemon) newHead() (string, bool) {
	h := d.pendingHead
	if h == "" || h == d.seen {
		return h, false
	}
	return h, true
}

func (d *Daemon) currentSHA() string {
	if d.current == nil {
		return ""
	}
	return d.current.SHA()
}

// load fetches, verifies and evaluates head. The head counts as seen
// whatever the outcome, except when the remote failed (tried again).
func (d *Daemon) load(ctx context.Context, head string, now time.Time) (*revision, error) {
	start := time.Now()
	d.fetches.Add(1)
	got, err := d.cfg.Remote.Fetch(ctx, d.cfg.Branch)
	d.cfg.Metrics.fetched(time.Since(start), err)
	if err != nil {
		d.log.Warn("fetch failed; the last good revision is still enforced", "commit", head, "err", err)
		d.warnings["fetch"] = fmt.Sprintf("fetch of branch %s (head %s) failed, retried every pass; the revision before it is still enforced: %v", d.cfg.Branch, gitrepo.Short(head), err)
		return nil, errRetry
	}
	delete(d.warnings, "fetch")
	// The branch may have moved again between ls-remote and fetch: take what was fetched.
	d.seen = got
	rev, err := d.loadCommit(ctx, got, now)
	if err != nil {
		return nil, err
	}
	if cur := d.currentSHA(); cur != "" {
		forward, err := d.cfg.Remote.IsAncestor(cur, got)
		if err != nil {
			d.log.Warn("cannot tell whether the head descends from the enforced commit", "commit", got, "err", err)
		}
		if !forward && !d.allowed(ctx, rev, status.ApproveRewind) {
			return nil, errRewind
		}
	}
	return rev, nil
}

// errRewind: the new head does not descend from the enforced commit.
var errRewind = errors.New("rewind")

// loadCommit verifies and evaluates a fetched commit and places it at now.
func (d *Daemon) loadCommit(ctx context.Context, sha string, now time.Time) (*revision, error) {
	rev, err := d.cfg.Remote.Resolve(sha)
	if err != nil {
		return nil, err
	}
	if d.cfg.Keyring != "" {
		if _, err := rev.Verify(d.cfg.Keyring); err != nil {
			return nil, err
		}
	}
	if err := d.verifyAdmin(rev, sha); err != nil {
		return nil, err
	}
	signedByAdmin := false
	if d.cfg.AdminKeyring != "" {
		_, verr := rev.Verify(d.cfg.AdminKeyring)
		signedByAdmin = verr == nil
	}
	d.evaluations.Add(1)
	root, err := rev.Root()
	if err != nil {
		return nil, err
	}
	src := engine.Source{Name: gitrepo.Short(sha), FS: rev.FS, Commit: sha, GitDir: d.cfg.Remote.CacheDir(), Origin: engine.OriginOfRoot(root, "")}
	loaded, err := engine.Load(context.WithoutCancel(ctx), src, d.cfg.Evaluator, d.cfg.Load, d.cfg.Scope)
	if err != nil {
		return nil, err
	}
	loaded.Secrets = d.cfg.Secrets
	out := &revision{Revision: loaded, message: rev.Commit.Message, signedByAdmin: signedByAdmin}
	if err := d.replace(out, now); err != nil {
		return nil, err
	}
	return out, nil
}

// verifyAdmin refuses a revision that changes what campus IT owns
// (policy/, sites/) unless an admin key signed it.
func (d *Daemon) verifyAdmin(rev gitrepo.Revision, sha string) error {
	if d.cfg.AdminKeyring == "" {
		return nil
	}
	changed, err := d.cfg.Remote.DirsChanged(d.currentSHA(), sha, "policy", "sites")
	if err != nil || !changed {
		return err
	}
	if _, err := rev.Verify(d.cfg.AdminKeyring); err != nil {
		return fmt.Errorf("commit %s changes policy/ or sites/, which only an admin key may sign: %w", gitrepo.Short(sha), err)
	}
	return nil
}

// errRetry: the head could not be fetched; it is looked at again next pass.
var errRetry = errors.New("fetch failed")

// refuse records a head that is not applied.
func (d *Daemon) refuse(head string, err error, held bool) {
	if errors.Is(err, errRetry) {
		return
	}
	if errors.Is(err, errRewind) {
		d.hold(head, status.ApproveRewind, fmt.Errorf("head %s does not descend from the enforced commit %s: the branch was rewound or force-pushed", gitrepo.Short(head), gitrepo.Short(d.currentSHA())))
		return
	}
	reason := err.Error()
	var ps schema.Problems
	if errors.As(err, &ps) {
		reason = fmt.Sprintf("%d configuration problem(s), nothing applied:\n%s", len(ps), ps.Error())
	}
	d.refused = &status.Refusal{Commit: head, Reason: reason, Held: held}
	d.cfg.Metrics.refused(held)
	verb := "revision refused; the previous one is still enforced"
	if held {
		verb = "revision held until approved; the previous one is still enforced"
	}
	d.log.Error(verb, "commit", head, "enforced", d.currentSHA(), "err", reason)
}

// replace places rev at now: an active window opened or closed, or the
// revision is new. No Jsonnet is evaluated.
func (d *Daemon) replace(rev *revision, now time.Time) error {
	want, err := rev.AtPinned(now, d.pins)
	if err != nil {
		return err
	}
	rev.want, rev.validUntil = want, rev.NextBoundary(now, 24*time.Hour)
	return nil
}

// notePins keeps where the instances' data is, as obs shows it (read once
// per lists: engine.PinsOf remembers them).
func (d *Daemon) notePins(obs plan.Observed) {
	d.pins = engine.PinsOf(obs)
}

// reports builds one report per host of want among hosts.
func (d *Daemon) reports(commit string, want *place.Desired, hosts *engine.Hosts, out engine.Outcome, now time.Time) []status.Report {
	reports := make([]status.Report, 0, len(hosts.Drivers))
	for _, h := range want.Hosts {
		if _, ok := hosts.Drivers[h.Key]; !ok {
			continue
		}
		converged := !out.Remaining.Down(h.Key)
		for _, s := range out.Remaining.ForHost(h.Key) {
			if s.Action.Changes() {
				converged = false
				break
			}
		}
		r := status.Build(h.Key, commit, out.Plan, out.Applied, converged, now)
		if d.refused != nil {
			ref := *d.refused
			r.Refused = &ref
		}
		r.Warnings = d.warningList()
		r.Links = d.linkReport(h.Key)
		for _, m := range out.Plan.Moves {
			if m.From == h.Key || m.To == h.Key {
				r.Warnings = append(r.Warnings, m.String())
			}
		}
		reports = append(reports, r)
	}
	return reports
}

// reportWithoutRevision reports a refused head when no revision was ever
// good: on the hosts named by --hosts as site/host, since no topology says
// which hosts there are.
func (d *Daemon) reportWithoutRevision(ctx context.Context, now time.Time) {
	if d.refused == nil {
		return
	}
	if d.cfg.Publisher != nil && d.remoteErr == nil {
		var keys []string
		for _, k := range d.cfg.Hosts {
			if strings.Contains(k, "/") {
				keys = append(keys, k)
			}
		}
		if c, err := d.cfg.Publisher.Claim(ctx, d.cfg.Holder, keys, d.cfg.LeaseTTL, time.Now()); err == nil {
			d.adopt(c)
		}
	}
	var out []status.Report
	for _, k := range d.cfg.Hosts {
		if !strings.Contains(k, "/") {
			continue
		}
		if _, ok := d.leases[k]; d.cfg.Publisher != nil && !ok {
			continue
		}
		site, host := status.SplitKey(k)
		out = append(out, status.Report{Host: host, Site: site, Time: now.UTC(), Refused: d.refused,
			Error: "no valid revision has been applied yet", Warnings: d.warningList()})
	}
	slices.SortFunc(out, func(a, b status.Report) int { return strings.Compare(a.Key(), b.Key()) })
	d.publish(ctx, out)
	d.keepReports(out)
	d.notePass(nil, nil, plan.Plan{}, out, now)
}

// keepReports remembers the reports of this pass, for the next pass's
// events and for the page.
func (d *Daemon) keepReports(reports []status.Report) {
	clear(d.lastReports)
	for _, r := range reports {
		d.lastReports[r.Key()] = r
	}
}

// publish writes the reports that changed; failures are logged and
// retried on a later pass (the publisher keeps what it last wrote).
func (d *Daemon) publish(ctx context.Context, reports []status.Report) {
	if d.cfg.Publisher == nil || len(reports) == 0 {
		return
	}
	if d.remoteErr != nil {
		if n := len(d.cfg.Publisher.Pending(reports)); n > 0 {
			d.log.Debug("reports pending until the remote is back", "reports", n)
		}
		return
	}
	n, err := d.cfg.Publisher.Publish(ctx, reports)
	if err != nil {
		if ctx.Err() == nil {
			d.cfg.Metrics.gitError("push")
			d.log.Warn("status branch: reports not written, retried next pass", "err", err)
		}
		return
	}
	if n > 0 {
		d.cfg.Metrics.reportsWritten(n)
	}
}

// connection is the drivers of the hosts of one topology.
type connection struct {
	sig string
	// topo and scope are those of the revision last connected for: the
	// same again needs no signature.
	topo   *schema.Topology
	scope  string
	hosts  *engine.Hosts
	wake   <-chan struct{}
	cancel context.CancelFunc
	// pingers probe the overlay links of the hosts that have one.
	pingers map[string]probe.Pinger
	closers []func() error
}

func (c *connection) close() {
	c.cancel()
	c.hosts.Close()
	for _, f := range c.closers {
		f()
	}
}

// connect (re)connects when the hosts, their endpoints or the deployment
// scope changed.
func (d *Daemon) connect(ctx context.Context, rev *engine.Revision) error {
	topo := rev.Topology
	if d.conn != nil && d.conn.topo == topo && d.conn.scope == rev.Scope {
		return nil // the same revision's hosts: no need to compare them
	}
	sig := rev.Scope + "\n" + hostsSignature(topo)
	if d.conn != nil && d.conn.sig == sig {
		d.conn.topo, d.conn.scope = topo, rev.Scope
		return nil
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	hosts, wake, err := d.cfg.Connect(wctx, topo, d.cfg.Hosts, rev.Scope, d.log)
	if err != nil {
		cancel()
		return err
	}
	if d.conn != nil {
		d.conn.close()
	}
	d.conn = &connection{sig: sig, topo: topo, scope: rev.Scope, hosts: hosts, wake: wake, cancel: cancel, pingers: map[string]probe.Pinger{}}
	d.cfg.Metrics.cache.hosts.Store(hosts)
	if d.cfg.Pingers != nil && d.links != nil {
		for _, site := range topo.Sites {
			for _, h := range site.Hosts {
				key := site.Name + "/" + h.Name
				if _, ok := hosts.Drivers[key]; !ok {
					continue
				}
				p, closer, err := d.cfg.Pingers(key, h)
				if err != nil {
					d.log.Warn("overlay links of the host cannot be probed", "host", key, "err", err)
					continue
				}
				d.conn.pingers[key] = p
				if closer != nil {
					d.conn.closers = append(d.conn.closers, closer)
				}
			}
		}
	}
	return nil
}

// hostsSignature identifies the hosts and how they are reached.
func hostsSignature(topo *schema.Topology) string {
	var b strings.Builder
	for _, s := range topo.Sites {
		for _, h := range s.Hosts {
			fmt.Fprintf(&b, "%s/%s %s %s %s %v\n", s.Name, h.Name, h.Docker, h.Netns, h.Underlay, h.TLS)
		}
	}
	return b.String()
}

// warningList is the faults to report, sorted.
func (d *Daemon) warningList() []string {
	return slices.Sorted(maps.Values(d.warnings))
}

// placer places rev again at now with pins (sticky placement).
func (d *Daemon) placer(rev *revision, now time.Time) engine.Placer {
	return func(pins place.Pins) (*place.Desired, error) { return rev.AtPinned(now, pins) }
}
