package daemon

import (
	"fmt"

	"github.com/rensei-dev/rensei/reconcile/plan"
)

// guard returns why p prunes too much, or "": on some host it deletes
// every managed container, or more than the configured share of them.
// Containers deleted only to be recreated (a replaced network) do not count.
func (d *Daemon) guard(p plan.Plan, obs plan.Observed) string {
	deletes := map[string]int{}
	for _, s := range p.Steps {
		if s.Kind == plan.KindContainer && s.Action == plan.Delete && s.Phase == plan.PhaseDeleteContainers {
			deletes[s.Host]++
		}
	}
	for _, s := range p.Steps {
		n := deletes[s.Host]
		if n == 0 {
			continue
		}
		managed := len(obs[s.Host].Containers)
		share := float64(n) / float64(managed)
		if n >= managed || share > d.cfg.PruneShare {
			return fmt.Sprintf("would delete %d of %d managed containers on %s (%.0f%%, limit %.0f%%); "+
				"held until a later revision or --allow-prune", n, managed, s.Host, 100*share, 100*d.cfg.PruneShare)
		}
	}
	return ""
}
