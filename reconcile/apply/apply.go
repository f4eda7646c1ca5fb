// Package apply executes a plan against the drivers of each host. Hosts are
// converged in parallel, each with bounded parallelism; phases run in the
// plan's order (add before delete); a failed step does not stop the others.
package apply

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// DefaultParallel is the number of steps run at once on one host: Docker
// engines start containers fastest at about four at a time.
const DefaultParallel = 4

// Options tune Apply.
type Options struct {
	// Parallel bounds concurrent steps per host (default DefaultParallel).
	Parallel int
	Log      *slog.Logger
	// Prepare, when set, turns a container's spec into the one handed to
	// the driver (secret values put in); a failure fails the step.
	Prepare func(drivers.ContainerSpec) (drivers.ContainerSpec, error)
	// Progress, when set, is told every step as it ends (err nil when it
	// succeeded), under a lock: calls never overlap.
	Progress func(s plan.Step, err error)
}

// Failure is a step that did not succeed.
type Failure struct {
	Step plan.Step `json:"step"`
	Err  string    `json:"error"`
	err  error
}

// Result is what Apply did.
type Result struct {
	Done     []plan.Step   `json:"done"`
	Failed   []Failure     `json:"failed"`
	Duration time.Duration `json:"duration"`
}

// Err joins the failures, or nil.
func (r Result) Err() error {
	errs := make([]error, len(r.Failed))
	for i, f := range r.Failed {
		errs[i] = fmt.Errorf("%s %s %s on %s: %w", f.Step.Action, f.Step.Kind, f.Step.Name, f.Step.Host, f.err)
	}
	return errors.Join(errs...)
}

// Apply executes every step of p. hosts maps "site/host" to its drivers.
// It returns what happened and the joined errors of the failed steps;
// Kept and skipped steps are neither done nor failed. A cancelled ctx stops starting
// new steps; steps under way finish or fail on their own.
func Apply(ctx context.Context, p plan.Plan, hosts map[string]drivers.Host, opts Options) (Result, error) {
	start := time.Now()
	if opts.Parallel <= 0 {
		opts.Parallel = DefaultParallel
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	byHost := map[string][]plan.Step{}
	var order []string
	for _, s := range p.Steps {
		if !s.Action.Changes() {
			continue
		}
		if _, seen := byHost[s.Host]; !seen {
			order = append(order, s.Host)
		}
		byHost[s.Host] = append(byHost[s.Host], s)
	}
	var (
		mu  sync.Mutex
		res Result
		wg  sync.WaitGroup
	)
	record := func(s plan.Step, err error) {
		mu.Lock()
		defer mu.Unlock()
		if opts.Progress != nil {
			opts.Progress(s, err)
		}
		if err != nil {
			res.Failed = append(res.Failed, Failure{Step: s, Err: err.Error(), err: err})
			log.Warn("step failed", "host", s.Host, "kind", s.Kind, "name", s.Name, "action", s.Action, "err", err)
			return
		}
		res.Done = append(res.Done, s)
		log.Info("step done", "host", s.Host, "kind", s.Kind, "name", s.Name, "action", s.Action, "reason", s.Reason)
	}
	for _, key := range order {
		h, ok := hosts[key]
		steps := byHost[key]
		if !ok {
			for _, s := range steps {
				record(s, fmt.Errorf("no drivers for host %s", key))
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			runHost(ctx, h, steps, opts, record, hosts)
		}()
	}
	wg.Wait()
	res.Duration = time.Since(start)
	return res, res.Err()
}

// runHost runs one host's steps phase by phase; within a phase at most
// parallel steps run at once.
func runHost(ctx context.Context, h drivers.Host, steps []plan.Step, opts Options, record func(plan.Step, error), hosts map[string]drivers.Host) {
	// Images that could not be brought: the containers needing them fail
	// with that reason instead of each trying again; the rest goes on.
	var mu sync.Mutex
	noImage := map[string]error{}
	for i := 0; i < len(steps); {
		j := i
		for j < len(steps) && steps[j].Phase == steps[i].Phase {
			j++
		}
		phase := steps[i:j]
		if bulkDeleteTunnels(ctx, h, phase, record) {
			i = j
			continue
		}
		sem := make(chan struct{}, opts.Parallel)
		var wg sync.WaitGroup
		for _, s := range phase {
			if ctx.Err() != nil {
				record(s, fmt.Errorf("not started: %w", ctx.Err()))
				continue
			}
			if s.Kind == change.KindContainer && s.Container != nil {
				mu.Lock()
				err := noImage[s.Container.Image]
				mu.Unlock()
				if err != nil {
					record(s, fmt.Errorf("not made: image %s is not on %s: %w", s.Container.Image, h.Name, err))
					continue
				}
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				var err error
				if s.Kind == change.KindImage {
					err = bringImage(ctx, h, s.Image, hosts)
					if err != nil {
						mu.Lock()
						noImage[s.Name] = err
						mu.Unlock()
					}
				} else {
					err = run(ctx, h, s, opts.Prepare)
				}
				record(s, err)
			}()
		}
		wg.Wait()
		i = j
	}
}

// bringImage puts an image on h: copied from the host that has it (saved
// there, loaded here, and checked by ID), or pulled from its registry.
func bringImage(ctx context.Context, h drivers.Host, src *plan.ImageSource, hosts map[string]drivers.Host) error {
	if h.Images == nil {
		return fmt.Errorf("image %s: the driver of %s cannot add images", src.Ref, h.Name)
	}
	if src.From == "" {
		return h.Images.Pull(ctx, src.Ref)
	}
	from, ok := hosts[src.From]
	if !ok || from.Images == nil {
		return fmt.Errorf("image %s: source host %s is not connected", src.Ref, src.From)
	}
	rc, err := from.Images.Save(ctx, src.Ref)
	if err != nil {
		return fmt.Errorf("image %s: copy from %s: %w", src.Ref, src.From, err)
	}
	defer rc.Close()
	if err := h.Images.Load(ctx, rc); err != nil {
		return fmt.Errorf("image %s: copy from %s: %w", src.Ref, src.From, err)
	}
	id, err := h.Images.ID(ctx, src.Ref)
	if err != nil {
		return fmt.Errorf("image %s: after the copy from %s: %w", src.Ref, src.From, err)
	}
	if id != src.ID {
		return fmt.Errorf("image %s: copied from %s as %s, but %s has it as %s", src.Ref, src.From, src.ID, h.Name, id)
	}
	return nil
}

// bulkDeleteTunnels deletes a phase made only of tunnel deletions in one
// batch when the driver can, and reports whether it handled the phase.
func bulkDeleteTunnels(ctx context.Context, h drivers.Host, phase []plan.Step, record func(plan.Step, error)) bool {
	bulk, ok := h.Tunnels.(drivers.TunnelBulkDeleter)
	if !ok || len(phase) < 2 {
		return false
	}
	names := make([]string, len(phase))
	for i, s := range phase {
		if s.Kind != change.KindTunnel || s.Action != change.Delete {
			return false
		}
		names[i] = s.Name
	}
	err := bulk.DeleteMany(ctx, names)
	for _, s := range phase {
		record(s, err)
	}
	return true
}

// run executes one step through the host's drivers.
func run(ctx context.Context, h drivers.Host, s plan.Step, prepare func(drivers.ContainerSpec) (drivers.ContainerSpec, error)) error {
	switch s.Kind {
	case change.KindContainer:
		if s.Action == change.Delete {
			return h.Containers.Delete(ctx, s.Name)
		}
		spec := *s.Container
		if prepare != nil {
			var err error
			if spec, err = prepare(spec); err != nil {
				return err
			}
		}
		return h.Containers.Ensure(ctx, spec)
	case change.KindNetwork:
		if s.Action == change.Delete {
			return h.Networks.Delete(ctx, s.Name)
		}
		return h.Networks.Ensure(ctx, *s.Network)
	case change.KindVolume:
		if s.Action == change.Delete {
			return h.Volumes.Delete(ctx, s.Name)
		}
		return h.Volumes.Ensure(ctx, *s.Volume)
	case change.KindTunnel:
		if h.Tunnels == nil {
			return fmt.Errorf("tunnel %s: no tunnel driver on %s", s.Name, h.Name)
		}
		switch s.Action {
		case change.Delete:
			return h.Tunnels.Delete(ctx, s.Name)
		case change.Replace:
			if err := h.Tunnels.Delete(ctx, s.Name); err != nil {
				return err
			}
		}
		return h.Tunnels.Ensure(ctx, *s.Tunnel)
	}
	return fmt.Errorf("step kind %q: not executable", s.Kind)
}
