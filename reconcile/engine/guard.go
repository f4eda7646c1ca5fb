package engine

import (
	"fmt"
	"maps"
	"slices"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// DefaultPruneShare is the share of a host's managed containers a plan
// may delete for good before the prune guard holds it.
const DefaultPruneShare = 0.5

// PruneGuard holds plans that would delete too much: on some host every
// managed container, or more than Share of them. Containers deleted only
// to be made again (a replaced network, an address moving) do not count.
type PruneGuard struct {
	Share float64 // default DefaultPruneShare
}

// Check returns why p prunes too much on one of hosts (every host of p
// when none are named), or "".
func (g PruneGuard) Check(p plan.Plan, obs plan.Observed, hosts ...string) string {
	n := Deletions(p)
	if len(hosts) == 0 {
		hosts = slices.Sorted(maps.Keys(n))
	}
	for _, host := range hosts {
		if why := g.tooMany(host, n[host], len(obs[host].Containers)); why != "" {
			return why
		}
	}
	return ""
}

// Hold drops from p what it deletes for good on host; what is deleted
// only to be made again stays.
func (PruneGuard) Hold(p plan.Plan, host string) plan.Plan {
	remade := map[string]bool{}
	for _, s := range p.Steps {
		if s.Host == host && s.Action.Changes() && s.Action != change.Delete {
			remade[string(s.Kind)+"/"+s.Name] = true
		}
	}
	p.Steps = slices.DeleteFunc(slices.Clone(p.Steps), func(s plan.Step) bool {
		return s.Host == host && s.Action == change.Delete && !remade[string(s.Kind)+"/"+s.Name]
	})
	return p
}

// Deletions counts, per host, the containers p deletes and does not create again.
func Deletions(p plan.Plan) map[string]int {
	recreated := map[string]bool{}
	for _, s := range p.Steps {
		if s.Kind == change.KindContainer && s.Action.Changes() && s.Action != change.Delete {
			recreated[s.Host+"\x00"+s.Name] = true
		}
	}
	out := map[string]int{}
	for _, s := range p.Steps {
		if s.Kind == change.KindContainer && s.Action == change.Delete && !recreated[s.Host+"\x00"+s.Name] {
			out[s.Host]++
		}
	}
	return out
}

// tooMany says why deleting n of a host's managed containers is too many, or "".
func (g PruneGuard) tooMany(host string, n, managed int) string {
	if n == 0 {
		return ""
	}
	share := g.Share
	if share <= 0 || share > 1 {
		share = DefaultPruneShare
	}
	got := float64(n) / float64(managed)
	if n >= managed || got > share {
		return fmt.Sprintf("would delete %d of %d managed containers on %s (%.0f%%, limit %.0f%%); "+
			"held until a later revision or --allow-prune", n, managed, host, 100*got, 100*share)
	}
	return ""
}
