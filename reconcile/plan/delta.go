package plan

import (
	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/place"
)

// OnlyEnvs is o with, on every host, only the containers, networks,
// volumes and tunnels of the environments in envs, and their status and
// errors. What was looked up for a desired state (images, foreign names)
// is left out: look it up for the environments' own.
func (o Observed) OnlyEnvs(envs map[string]bool) Observed {
	out := make(Observed, len(o))
	for key, st := range o {
		st.Containers = place.OfEnvs(st.Containers, envs, func(c *drivers.Container) string { return c.Labels[drivers.LabelEnv] })
		st.Networks = place.OfEnvs(st.Networks, envs, func(n *drivers.Network) string { return n.Labels[drivers.LabelEnv] })
		st.Volumes = place.OfEnvs(st.Volumes, envs, func(v *drivers.Volume) string { return v.Labels[drivers.LabelEnv] })
		st.Tunnels = place.OfEnvs(st.Tunnels, envs, func(t *drivers.Tunnel) string { return drivers.EnvOfOwner(t.Owner) })
		st.Images, st.ForeignNetworks, st.ForeignVolumes = nil, nil, nil
		out[key] = st
	}
	return out
}

// Merge is the plan of a desired state that differs from the one prev was
// computed for only in the environments envs, on the same observation:
// prev's steps for every other environment (their desired and live
// objects are what prev saw) and delta, the plan of envs alone (Compute on
// both sides kept to envs, with this pass's commit, moves and renames).
// It is what Compute would return on the whole, without planning the
// environments that did not change. prev must have no step outside an
// environment (an image): the caller plans everything then.
func Merge(prev, delta Plan, envs map[string]bool) Plan {
	out := delta
	out.Steps = make([]Step, 0, len(prev.Steps)+len(delta.Steps))
	for _, s := range prev.Steps {
		if !envs[s.Env] {
			out.Steps = append(out.Steps, s)
		}
	}
	out.Steps = append(out.Steps, delta.Steps...)
	sortSteps(out.Steps)
	return out
}

// PerEnv reports whether every step of p belongs to an environment, so
// that Merge can keep them by environment.
func (p Plan) PerEnv() bool {
	for _, s := range p.Steps {
		if s.Env == "" {
			return false
		}
	}
	return true
}
