// Package engine owns Rensei's reconcile pass and the steps around it:
// loading a revision through an evaluator (in this process or in a child
// process with bounds), its desired state at a time and the moments its
// environments' windows open or close, connecting the hosts, observing
// them, and the pass itself: observe → plan → guard → apply → plan again.
// The command line and the daemon both run this one pass. It also holds
// the policies that decide what may be deleted: the prune guard, and
// which volumes `volumes prune` may remove.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// Options tune a pass.
type Options struct {
	// Guard, when set, vets the plan before anything is applied: it
	// returns the plan to apply (it may drop steps), or an error that
	// holds the whole plan (nothing is applied; Outcome.Held says why).
	Guard func(p plan.Plan, obs plan.Observed) (plan.Plan, error)
	// Confirm, when set, is asked before a plan with changes is applied;
	// false leaves everything as it is (Outcome.Declined).
	Confirm func(p plan.Plan) (bool, error)
	Apply   apply.Options
	Log     *slog.Logger
	// Secrets, when set, puts secret values into containers just before
	// they are made (see Secrets).
	Secrets *Secrets
	// Place, when set, places the revision again when the hosts hold data
	// of instances elsewhere than want places them (see PinsOf): placement
	// is sticky for instances with volumes.
	Place Placer
}

// Outcome is what a pass found and did.
type Outcome struct {
	// Want is the desired state the pass enforced: the one given, or the
	// one placed again with the hosts' pins (Options.Place).
	Want *place.Desired
	// Observed is what the hosts held before the pass.
	Observed plan.Observed
	// Plan is what the pass set out to do (after the guard).
	Plan plan.Plan
	// Applied is what apply did; empty when nothing was applied.
	Applied apply.Result
	// Remaining is the plan computed again after apply: empty when every
	// reachable host converged. It equals Plan when nothing was applied.
	Remaining plan.Plan
	// Held is why the guard held the plan; nothing was applied.
	Held error
	// Declined: Confirm said no; nothing was applied.
	Declined bool
	// Planned names the environments a partial pass planned, sorted: only
	// those whose desired state changed since a pass with nothing to do,
	// on hosts that did not change since (the other environments' steps
	// are that pass's). Nil when the pass planned every environment.
	Planned []string

	// partial is set when the pass planned only some environments.
	partial *partial
}

// Converged reports whether every host of the pass is converged now.
func (o Outcome) Converged() bool { return o.Held == nil && !o.Declined && o.Remaining.Converged() }

// Err summarises what went wrong, or nil: failed steps, hosts that did not
// converge, unreachable hosts, a held plan.
func (o Outcome) Err() error {
	var errs []error
	if o.Held != nil {
		errs = append(errs, o.Held)
	}
	if err := o.Applied.Err(); err != nil {
		errs = append(errs, err)
	}
	if o.Held == nil && !o.Declined && !o.Remaining.Empty() && len(o.Applied.Failed) == 0 {
		errs = append(errs, fmt.Errorf("not converged after apply: %d step(s) remain", o.Remaining.Changes()))
	}
	for _, u := range o.Remaining.Unreachable {
		errs = append(errs, fmt.Errorf("%s: unreachable, skipped: %s", u.Host, u.Error))
	}
	for _, s := range o.Remaining.Blocked() {
		errs = append(errs, fmt.Errorf("%s: %s %s blocked: %s", s.Host, s.Kind, s.Name, s.Reason))
	}
	return errors.Join(errs...)
}

// Plan observes the connected hosts and plans want for them (placed again
// with the hosts' pins when replace is set), without applying anything.
// It returns the desired state planned.
func Plan(ctx context.Context, want *place.Desired, hosts *Hosts, replace Placer) (plan.Plan, plan.Observed, *place.Desired) {
	want, obs := settle(ctx, want, hosts, replace)
	return plan.Compute(hosts.Only(want), obs), obs, want
}

// Pass is one reconcile pass over the connected hosts: observe, plan, let
// the guard vet the plan, ask Confirm, apply (add before delete, bounded
// parallelism, keep going past failures), then observe and plan again to
// prove convergence. Hosts of want that are not connected are left out.
// It never stops at the first problem; Outcome.Err summarises them.
//
// With a cache (ConnectWatching), a pass given the same desired state as
// the last one, which found nothing to do, while nothing changed on any
// host since, is answered from memory: the same observation, an empty
// plan (see idleMemo): the same desired state is the same *place.Desired,
// which must not be changed in place between passes. Outcome.Observed may
// then be the one of that pass: read it, never change it.
func Pass(ctx context.Context, want *place.Desired, hosts *Hosts, opts Options) Outcome {
	given := want
	out, stamps := hosts.planFor(ctx, want, opts.Place)
	computed := out.Plan
	want = hosts.Only(out.Want)
	if opts.Guard != nil {
		p, err := opts.Guard(out.Plan, out.Observed)
		if err != nil {
			out.Held, out.Remaining = err, out.Plan
			hosts.cached().forgetIdle()
			return out
		}
		out.Plan = p
	}
	out.Remaining = out.Plan
	if out.Plan.Empty() {
		hosts.cached().noteIdle(ctx, hosts.Drivers, given, stamps, Outcome{Want: out.Want, Observed: out.Observed, Plan: computed})
		return out
	}
	hosts.cached().forgetIdle()
	if opts.Confirm != nil {
		ok, err := opts.Confirm(out.Plan)
		if err != nil || !ok {
			out.Declined = true
			out.Held = err
			return out
		}
	}
	if opts.Apply.Log == nil {
		opts.Apply.Log = opts.Log
	}
	if opts.Secrets != nil && opts.Apply.Prepare == nil {
		opts.Apply.Prepare = opts.Secrets.Resolve
	}
	out.Applied, _ = apply.Apply(ctx, out.Plan, hosts.Drivers, opts.Apply)
	if p := out.partial; p != nil {
		// Only the changed environments were touched: they are planned
		// again; the others' steps stand (a change elsewhere meanwhile
		// woke the next pass, which looks at everything).
		delta, _ := hosts.planEnvs(ctx, p.want, p.envs, ObserveScope(ctx, hosts.Drivers, hosts.Scope))
		out.Remaining = plan.Merge(p.prev, delta, p.envs)
		return out
	}
	c := hosts.cached()
	stamps, ok := c.stamps(ctx, hosts.Drivers) // looks up the containers apply changed
	if !ok && c != nil {
		ObserveScope(ctx, hosts.Drivers, hosts.Scope) // lists the other kinds apply changed
		stamps, _ = c.stamps(ctx, hosts.Drivers)
	}
	obs := ObserveFor(ctx, hosts.Drivers, hosts.Scope, want) // from memory, unless something changed since
	out.Remaining = plan.Compute(want, obs)
	// Converged on hosts that did not change while observed: the next
	// pass is answered from memory (the echo of the changes just made
	// finds the containers as they were observed here).
	c.noteIdle(ctx, hosts.Drivers, given, stamps, Outcome{Want: out.Want, Observed: obs, Plan: out.Remaining})
	return out
}
