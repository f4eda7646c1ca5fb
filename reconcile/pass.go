package reconcile

import (
	"context"
	"io/fs"
	"log/slog"

	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/schema"
)

// Desire loads, validates and places one revision of a config repository:
// everything up to the plan that needs no host. A configuration error is
// returned as schema.Problems.
func Desire(fsys fs.FS, load schema.Options, opts place.Options) (*schema.Topology, *place.Desired, error) {
	topo, err := schema.Load(fsys, load)
	if err != nil {
		return nil, nil, err
	}
	want, err := place.Place(topo, opts)
	if err != nil {
		return topo, nil, err
	}
	return topo, want, nil
}

// Outcome is one converge pass: the plan, what apply did, and whether a
// second plan right after apply was empty.
type Outcome struct {
	Plan      plan.Plan    `json:"plan"`
	Applied   apply.Result `json:"applied"`
	Remaining plan.Plan    `json:"remaining"`
	Converged bool         `json:"converged"`
}

// Converge plans want against the live hosts, applies the plan and
// re-plans to check convergence. Unreachable hosts are skipped and reported
// in the plan; every other host converges. The returned error joins the
// failed steps.
func Converge(ctx context.Context, want *place.Desired, hosts *Hosts, scope string, opts apply.Options) (Outcome, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	var out Outcome
	out.Plan = plan.Compute(want, ObserveScope(ctx, hosts.Drivers, scope))
	res, err := apply.Apply(ctx, out.Plan, hosts.Drivers, opts)
	out.Applied = res
	out.Remaining = plan.Compute(want, ObserveScope(ctx, hosts.Drivers, scope))
	out.Converged = out.Remaining.Empty()
	return out, err
}
