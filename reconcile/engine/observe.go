package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	return observe(ctx, hosts, scope, nil)
}

// ObserveFor is ObserveScope that also finds who holds the names of the
// networks and volumes want needs and the host lacks: a name held by
// someone else blocks what needs it. It asks only when something is
// missing, so a pass with nothing to do still costs one list per kind.
func ObserveFor(ctx context.Context, hosts map[string]drivers.Host, scope string, want *place.Desired) plan.Observed {
	return observe(ctx, hosts, scope, want)
}

func observe(ctx context.Context, hosts map[string]drivers.Host, scope string, want *place.Desired) plan.Observed {
	out := plan.Observed{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for key, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := observeHost(ctx, h)
			st.Containers = inScope(st.Containers, scope, func(c drivers.Container) string { return c.Labels[drivers.LabelScope] })
			st.Networks = inScope(st.Networks, scope, func(n drivers.Network) string { return n.Labels[drivers.LabelScope] })
			st.Volumes = inScope(st.Volumes, scope, func(v drivers.Volume) string { return v.Labels[drivers.LabelScope] })
			st.Tunnels = inScope(st.Tunnels, scope, func(t drivers.Tunnel) string {
				s, _ := drivers.SplitOwner(t.Owner)
				return s
			})
			mu.Lock()
			out[key] = st
			mu.Unlock()
		}()
	}
	wg.Wait()
	if want != nil {
		lookUp(ctx, hosts, out, scope, want)
	}
	return out
}

// lookUp adds to out (the owned objects of every host) what planning want
// needs besides them: who holds the names of the networks and volumes
// want lacks on each host (a host whose look-up fails gets Err), and the
// images of the containers it would make.
func lookUp(ctx context.Context, hosts map[string]drivers.Host, out plan.Observed, scope string, want *place.Desired) {
	found := make([]plan.HostState, 0, len(out))
	var keys []string
	for key, st := range out {
		if st.Err == nil && want.Host(key) != nil {
			keys, found = append(keys, key), append(found, st)
		}
	}
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Go(func() {
			if err := observeForeign(ctx, hosts[key], &found[i], scope, want.Host(key)); err != nil {
				found[i].Err = err
			}
		})
	}
	wg.Wait()
	for i, key := range keys {
		out[key] = found[i]
	}
	observeImages(ctx, hosts, out, want)
}

// observeImages looks up the images of the containers a pass would make
// on each host (those absent or changed: none on a pass with nothing to
// do), and where one is missing, whether the other hosts have it: the plan
// copies it from one of them (plan.HostState.Images).
func observeImages(ctx context.Context, hosts map[string]drivers.Host, out plan.Observed, want *place.Desired) {
	lookup := func(keys map[string][]string) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for key, refs := range keys {
			wg.Go(func() {
				for _, ref := range refs {
					id, err := hosts[key].Images.ID(ctx, ref)
					if err != nil && !errors.Is(err, drivers.ErrNotFound) {
						continue // unknown: no step is planned on a guess
					}
					mu.Lock()
					st := out[key]
					if st.Images == nil {
						st.Images = map[string]string{}
					}
					st.Images[ref] = id
					out[key] = st
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	usable := func(key string) bool { return hosts[key].Images != nil && out[key].Err == nil }
	pending := map[string][]string{}
	for key := range hosts {
		wh := want.Host(key)
		if wh == nil || !usable(key) {
			continue
		}
		// Sorted names and binary search, not a map: this runs on every
		// pass, and on a pass with nothing to do finds nothing.
		have := make([]nameHash, len(out[key].Containers))
		for i, c := range out[key].Containers {
			have[i] = nameHash{c.Name, c.SpecHash()}
		}
		slices.SortFunc(have, func(a, b nameHash) int { return strings.Compare(a.name, b.name) })
		var seen map[string]bool
		for _, c := range wh.Containers {
			i, ok := slices.BinarySearchFunc(have, c.Name, func(h nameHash, name string) int { return strings.Compare(h.name, name) })
			if ok && have[i].hash == c.SpecHash() || seen[c.Image] {
				continue
			}
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[c.Image] = true
			pending[key] = append(pending[key], c.Image)
		}
	}
	if len(pending) == 0 {
		return
	}
	lookup(pending)
	missing := map[string]bool{}
	for key := range pending {
		for ref, id := range out[key].Images {
			if id == "" {
				missing[ref] = true
			}
		}
	}
	others := map[string][]string{}
	for key := range hosts {
		if !usable(key) {
			continue
		}
		for ref := range missing {
			if _, looked := out[key].Images[ref]; !looked {
				others[key] = append(others[key], ref)
			}
		}
	}
	lookup(others)
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

// observeForeign fills the foreign names of st for the networks and
// volumes the host's desired state needs and does not have.
func observeForeign(ctx context.Context, h drivers.Host, st *plan.HostState, scope string, want *place.Host) error {
	if want == nil {
		return nil
	}
	haveNet := map[string]bool{}
	for _, n := range st.Networks {
		haveNet[n.Name] = true
	}
	haveVol := map[string]bool{}
	for _, v := range st.Volumes {
		haveVol[v.Name] = true
	}
	missingNet, missingVol := false, false
	for _, n := range want.Networks {
		missingNet = missingNet || !haveNet[n.Name]
	}
	for _, v := range want.Volumes {
		missingVol = missingVol || !haveVol[v.Name]
	}
	var err error
	if n, ok := h.Networks.(drivers.Names); ok && missingNet {
		if st.ForeignNetworks, err = n.Names(ctx); err != nil {
			return fmt.Errorf("list network names: %w", err)
		}
		st.ForeignNetworks = foreign(st.ForeignNetworks, scope)
	}
	if n, ok := h.Volumes.(drivers.Names); ok && missingVol {
		if st.ForeignVolumes, err = n.Names(ctx); err != nil {
			return fmt.Errorf("list volume names: %w", err)
		}
		st.ForeignVolumes = foreign(st.ForeignVolumes, scope)
	}
	return nil
}

// foreign keeps the names held by anyone but scope's deployment.
func foreign(names map[string]drivers.Owner, scope string) map[string]drivers.Owner {
	for name, o := range names {
		if o.Managed && o.Scope == scope {
			delete(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return names
}

type nameHash struct{ name, hash string }

// inScope keeps the objects of scope (absent counts as ""): objs itself
// when they all are.
func inScope[T any](objs []T, scope string, scopeOf func(T) string) []T {
	if !slices.ContainsFunc(objs, func(o T) bool { return scopeOf(o) != scope }) {
		return objs
	}
	out := objs[:0:0]
	for _, o := range objs {
		if scopeOf(o) == scope {
			out = append(out, o)
		}
	}
	return out
}
