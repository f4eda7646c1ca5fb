package daemon

import (
	"fmt"
	"maps"
	"slices"

	"github.com/rensei-dev/rensei/reconcile/plan"
)

// guard returns why p prunes too much, or "": on some host it deletes
// every managed container, or more than the configured share of them.
// Containers deleted only to be recreated (a replaced network, an address
// moving) do not count.
func (d *Daemon) guard(p plan.Plan, obs plan.Observed) string {
	n := deletions(p)
	for _, host := range slices.Sorted(maps.Keys(n)) {
		if why := d.tooMany(host, n[host], len(obs[host].Containers)); why != "" {
			return why
		}
	}
	return ""
}

// deletions counts, per host, the containers p deletes and does not create again.
func deletions(p plan.Plan) map[string]int {
	recreated := map[string]bool{}
	for _, s := range p.Steps {
		if s.Kind == plan.KindContainer && s.Action != plan.Delete && s.Action != plan.Skip {
			recreated[s.Host+"\x00"+s.Name] = true
		}
	}
	out := map[string]int{}
	for _, s := range p.Steps {
		if s.Kind == plan.KindContainer && s.Action == plan.Delete && !recreated[s.Host+"\x00"+s.Name] {
			out[s.Host]++
		}
	}
	return out
}

// guardHost is guard for one host.
func (d *Daemon) guardHost(p plan.Plan, obs plan.Observed, host string) string {
	return d.tooMany(host, deletions(p)[host], len(obs[host].Containers))
}

// tooMany says why deleting n of a host's managed containers is too many, or "".
func (d *Daemon) tooMany(host string, n, managed int) string {
	if n == 0 {
		return ""
	}
	share := float64(n) / float64(managed)
	if n >= managed || share > d.cfg.PruneShare {
		return fmt.Sprintf("would delete %d of %d managed containers on %s (%.0f%%, limit %.0f%%); "+
			"held until a later revision or --allow-prune", n, managed, host, 100*share, 100*d.cfg.PruneShare)
	}
	return ""
}
