package place

import (
	"fmt"
	"maps"
	"slices"

	"github.com/rensei-dev/rensei/schema"
)

// resources are the limits of each instance of g: what it declares, the
// policy's defaults for what it leaves out. They count against capacity
// and quotas.
func (p *placer) resources(g *schema.Group) schema.Resources {
	r := g.Resources
	if r.CPUs == 0 {
		r.CPUs = p.policy.Defaults.CPUs
	}
	if r.Memory.N == 0 {
		r.Memory = p.policy.Defaults.Memory
	}
	return r
}

// usage is what one tenant's active environments use together.
type usage struct {
	tenant     *schema.Tenant
	containers int
	cpus       float64
	memory     int64
	volumes    map[string]bool
}

// usageOf is the usage of t, nil when t has no quota.
func (p *placer) usageOf(t *schema.Tenant) *usage {
	if t == nil || t.Quota.IsZero() {
		return nil
	}
	u := p.usage[t.Name]
	if u == nil {
		u = &usage{tenant: t, volumes: map[string]bool{}}
		p.usage[t.Name] = u
	}
	return u
}

// count adds one placed instance of g to its tenant's usage.
func (p *placer) count(t *schema.Tenant, r schema.Resources, g *schema.Group) {
	if u := p.usageOf(t); u != nil {
		u.containers++
		u.cpus += r.CPUs
		u.memory += r.Memory.N
	}
}

// countVolume adds a volume (by Docker name and host) to its tenant's usage.
func (p *placer) countVolume(t *schema.Tenant, key string) {
	if u := p.usageOf(t); u != nil {
		u.volumes[key] = true
	}
}

// quotas reports every tenant whose active environments use more than its
// quota allows, naming the rule.
func (p *placer) quotas() {
	for _, name := range slices.Sorted(maps.Keys(p.usage)) {
		u := p.usage[name]
		q := u.tenant.Quota
		src := u.tenant.Source
		over := func(what string, used, limit any, field string) {
			p.problems = append(p.problems, schema.Problem{File: src.File, Line: src.Line,
				Msg: fmt.Sprintf("tenant %q: its active environments use %v %s, over its quota of %v (tenants[%s].quota.%s)", name, used, what, limit, name, field)})
		}
		if q.Containers > 0 && u.containers > q.Containers {
			over("containers", u.containers, q.Containers, "containers")
		}
		if q.CPUs > 0 && u.cpus > q.CPUs+1e-9 {
			over("CPUs", u.cpus, q.CPUs, "cpus")
		}
		if q.Memory.N > 0 && u.memory > q.Memory.N {
			over("bytes of memory", u.memory, q.Memory.Text+" ("+fmt.Sprint(q.Memory.N)+" bytes)", "memory")
		}
		if q.Volumes > 0 && len(u.volumes) > q.Volumes {
			over("volumes", len(u.volumes), q.Volumes, "volumes")
		}
	}
}
