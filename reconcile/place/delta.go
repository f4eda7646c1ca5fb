package place

import (
	"reflect"

	"github.com/rensei-dev/rensei/drivers"
)

// ChangedEnvs names the environments whose objects differ between two
// desired states of the same hosts: an environment with a container,
// network, volume or tunnel added, removed or changed on any host
// (containers compared by their spec hash, which covers their whole spec;
// the rest field by field but for the commit label), including one that is gone from b or new in
// it. ok is false when the two do not place on the same hosts: then every
// environment may be affected.
func ChangedEnvs(a, b *Desired) (changed map[string]bool, ok bool) {
	if len(a.Hosts) != len(b.Hosts) {
		return nil, false
	}
	changed = map[string]bool{}
	for i := range a.Hosts {
		ha, hb := &a.Hosts[i], &b.Hosts[i]
		if ha.Key != hb.Key {
			return nil, false
		}
		diffObjects(changed, ha.Containers, hb.Containers, func(c *drivers.ContainerSpec) string { return c.Name },
			func(c *drivers.ContainerSpec) string { return c.Labels[drivers.LabelEnv] }, sameContainer)
		diffObjects(changed, ha.Networks, hb.Networks, func(n *drivers.NetworkSpec) string { return n.Name },
			func(n *drivers.NetworkSpec) string { return n.Labels[drivers.LabelEnv] }, sameNetwork)
		diffObjects(changed, ha.Volumes, hb.Volumes, func(v *drivers.VolumeSpec) string { return v.Name },
			func(v *drivers.VolumeSpec) string { return v.Labels[drivers.LabelEnv] }, func(a, b *drivers.VolumeSpec) bool {
				return a.Name == b.Name && sameLabels(a.Labels, b.Labels)
			})
		diffObjects(changed, ha.Tunnels, hb.Tunnels, func(t *drivers.TunnelSpec) string { return t.Name },
			func(t *drivers.TunnelSpec) string { return drivers.EnvOfOwner(t.Owner) }, equal)
	}
	return changed, true
}

// diffObjects marks in changed the environments of the objects that are
// only in as, only in bs, or differ between them (by name).
func diffObjects[T any](changed map[string]bool, as, bs []T, name, env func(*T) string, same func(a, b *T) bool) {
	if len(as) == len(bs) {
		// The common case: the same objects in the same order.
		i := 0
		for ; i < len(as) && name(&as[i]) == name(&bs[i]) && same(&as[i], &bs[i]); i++ {
		}
		if i == len(as) {
			return
		}
	}
	byName := make(map[string]*T, len(as))
	for i := range as {
		byName[name(&as[i])] = &as[i]
	}
	for i := range bs {
		b := &bs[i]
		a, ok := byName[name(b)]
		delete(byName, name(b))
		switch {
		case !ok:
			changed[env(b)] = true
		case !same(a, b):
			changed[env(a)], changed[env(b)] = true, true
		}
	}
	for _, a := range byName {
		changed[env(a)] = true
	}
}

func sameContainer(a, b *drivers.ContainerSpec) bool {
	if ha, hb := a.SpecHash(), b.SpecHash(); ha != "" && hb != "" {
		return ha == hb
	}
	return reflect.DeepEqual(a, b)
}

func sameNetwork(a, b *drivers.NetworkSpec) bool {
	x, y := *a, *b
	x.Labels, y.Labels = nil, nil
	return reflect.DeepEqual(x, y) && sameLabels(a.Labels, b.Labels)
}

// sameLabels compares two objects' labels but for the commit they were
// placed at: a new commit alone changes nothing (the plan ignores it).
func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v && k != drivers.LabelCommit {
			return false
		}
	}
	return true
}

func equal[T any](a, b *T) bool { return reflect.DeepEqual(a, b) }

// OnlyEnvs is d with, on every host, only the objects of the environments
// in envs. The environments, access rows and moves stay as they are: the
// plan of a few environments still knows every environment that exists.
func (d *Desired) OnlyEnvs(envs map[string]bool) *Desired {
	out := *d
	out.Hosts = make([]Host, len(d.Hosts))
	for i, h := range d.Hosts {
		out.Hosts[i] = Host{Key: h.Key, Site: h.Site, Spec: h.Spec,
			Containers: OfEnvs(h.Containers, envs, func(c *drivers.ContainerSpec) string { return c.Labels[drivers.LabelEnv] }),
			Networks:   OfEnvs(h.Networks, envs, func(n *drivers.NetworkSpec) string { return n.Labels[drivers.LabelEnv] }),
			Volumes:    OfEnvs(h.Volumes, envs, func(v *drivers.VolumeSpec) string { return v.Labels[drivers.LabelEnv] }),
			Tunnels:    OfEnvs(h.Tunnels, envs, func(t *drivers.TunnelSpec) string { return drivers.EnvOfOwner(t.Owner) }),
		}
	}
	return &out
}

// OfEnvs returns the objects whose environment (env) is in envs, in order.
func OfEnvs[T any](objs []T, envs map[string]bool, env func(*T) string) []T {
	var out []T
	for i := range objs {
		if envs[env(&objs[i])] {
			out = append(out, objs[i])
		}
	}
	return out
}
