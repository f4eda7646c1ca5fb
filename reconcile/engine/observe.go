package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// Observe lists the owned objects of every host in parallel, one list call
// per kind per host. A host whose probe or any list fails is observed with
// Err set, so its part of the plan is skipped while the others converge.
// Only objects of the default scope are kept; see ObserveScope.
func Observe(ctx context.Context, hosts map[string]drivers.Host) plan.Observed {
	return ObserveScope(ctx, hosts, "")
}

// ObserveScope is Observe keeping only the objects of scope: containers,
// networks and volumes by their io.rensei.scope label (absent counts as
// ""), tunnels by the scope in their owner alias.
func ObserveScope(ctx context.Context, hosts map[string]drivers.Host, scope string) plan.Observed {
	out := plan.Observed{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for key, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := observeHost(ctx, h)
			st.Containers = inScope(st.Containers, scope, func(c drivers.Container) map[string]string { return c.Labels })
			st.Networks = inScope(st.Networks, scope, func(n drivers.Network) map[string]string { return n.Labels })
			st.Volumes = inScope(st.Volumes, scope, func(v drivers.Volume) map[string]string { return v.Labels })
			st.Tunnels = inScope(st.Tunnels, scope, func(t drivers.Tunnel) map[string]string {
				s, _ := place.SplitOwner(t.Owner)
				return map[string]string{drivers.LabelScope: s}
			})
			mu.Lock()
			out[key] = st
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func observeHost(ctx context.Context, h drivers.Host) plan.HostState {
	var st plan.HostState
	// The plan and the reports name the host; errors here give the cause only.
	if h.Probe != nil {
		st.Status = h.Probe(ctx)
		if !st.Status.Reachable {
			st.Err = fmt.Errorf("%w", errors.New(st.Status.Error))
			return st
		}
	}
	var err error
	if st.Containers, err = h.Containers.List(ctx); err != nil {
		st.Err = fmt.Errorf("list containers: %w", err)
		return st
	}
	if st.Networks, err = h.Networks.List(ctx); err != nil {
		st.Err = fmt.Errorf("list networks: %w", err)
		return st
	}
	if st.Volumes, err = h.Volumes.List(ctx); err != nil {
		st.Err = fmt.Errorf("list volumes: %w", err)
		return st
	}
	if h.Tunnels == nil {
		st.NoTunnels = true
		return st
	}
	if st.Tunnels, err = h.Tunnels.List(ctx); err != nil {
		st.Err = fmt.Errorf("list tunnels: %w", err)
	}
	return st
}

// inScope keeps the objects whose scope label equals scope.
func inScope[T any](objs []T, scope string, labels func(T) map[string]string) []T {
	out := objs[:0:0]
	for _, o := range objs {
		if labels(o)[drivers.LabelScope] == scope {
			out = append(out, o)
		}
	}
	return out
}
