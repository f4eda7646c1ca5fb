package plan

import (
	"fmt"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/place"
)

// gone explains why an owned object is no longer desired on this host:
// a code for decisions, words for people.
func (hp *hostPlanner) gone(labels map[string]string, what string) (change.Code, string) {
	env := labels[drivers.LabelEnv]
	st, ok := hp.want.Env(env)
	switch {
	case env == "":
		return change.Removed, what + " is not in the configuration"
	case !ok:
		return change.Removed, fmt.Sprintf("environment %q was removed from the configuration", env)
	case st.State == place.Ended:
		return change.WindowClosed, fmt.Sprintf("environment %q ended at %s", env, st.Until.Format("2006-01-02 15:04 MST"))
	case st.State == place.Scheduled:
		return change.WindowNotOpen, fmt.Sprintf("environment %q is scheduled from %s", env, st.From.Format("2006-01-02 15:04 MST"))
	}
	g, inst := labels[drivers.LabelGroup], labels[drivers.LabelInstance]
	if g == "" {
		return change.Removed, what + " is no longer placed on this host"
	}
	where := hp.where.index()
	elsewhere := where.host[env+"/"+g+"/"+inst]
	if elsewhere == hp.host.Key {
		elsewhere = ""
	}
	switch {
	case !where.group[env+"/"+g]:
		return change.Removed, fmt.Sprintf("group %q is not in environment %q any more (renamed or removed)", g, env)
	case elsewhere != "":
		return change.Moved, fmt.Sprintf("%s %q moves to %s", what, inst, elsewhere)
	case inst != "":
		return change.Removed, fmt.Sprintf("%s %q left group %q (member removed or fewer replicas)", what, inst, g)
	}
	return change.Removed, what + " is no longer placed on this host"
}

// renames finds what looks like a rename between what is live and what is
// wanted, by content only (change.Renames): the same detector the
// comparison of two revisions uses.
func renames(want *place.Desired, have Observed) []change.Rename {
	before := change.NewInventory()
	for _, st := range have {
		if st.Err != nil {
			continue
		}
		for _, c := range st.Containers {
			before.AddContainer(c.Labels)
		}
		for _, n := range st.Networks {
			before.AddNetwork(n.Labels)
		}
		for _, v := range st.Volumes {
			before.AddVolume(v.Labels)
		}
	}
	return change.Renames(before, want.Inventory())
}
