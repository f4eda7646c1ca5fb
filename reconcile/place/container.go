package place

import (
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/schema"
)

// ContainerName is the Docker name of an instance.
func ContainerName(env, group, instance string) string { return env + "_" + group + "_" + instance }

// VolumeName is the Docker name of a volume: per instance, or per
// environment (shared by its groups on each host).
func VolumeName(env, group, instance string, v schema.Volume) string {
	if v.Scope == "environment" {
		return env + "_" + v.Name
	}
	return env + "_" + group + "_" + instance + "_" + v.Name
}

// groupSpec is what every instance of a group shares, worked out once
// per group rather than once per instance.
type groupSpec struct {
	e *schema.Environment
	t *schema.Tenant
	g *schema.Group

	res     schema.Resources
	content contentTail
	env     []envVar // sorted by name
	// attach are the attachments every instance makes, in order.
	attach []attachSpec
	// files are every instance's files, shared, when none holds a
	// placement reference (fillReferences then writes back only what they
	// hold, and nothing writes to a spec's files after placement); nil
	// when each instance needs its own.
	files []drivers.File
	// ports are the port bindings of the group's instances on each host
	// (shared by the instances on it), made on first use.
	ports map[*hostRef][]drivers.PortBinding
	// refers: the instances want static addresses or may hold placement
	// references, which are resolved by instance (placer.instances).
	refers bool
}

// attachSpec is one network attachment of a group's instances: to the
// network np (a its attachment), or, when np is nil, to the environment's
// implicit default network on their host (named local).
type attachSpec struct {
	a     *schema.Attachment
	np    *netPlacement
	local string
}

// envVar is one variable of a group's containers: the same "NAME=value"
// for every instance (fixed), or Rensei's own variable that names the
// instance, its site or its host.
type envVar struct {
	name, fixed string
}

func (p *placer) groupSpec(e *schema.Environment, t *schema.Tenant, g *schema.Group, nets map[string]*netPlacement) *groupSpec {
	gs := &groupSpec{e: e, t: t, g: g, res: p.resources(g), content: newContentTail(g)}
	// The group's own variables win over Rensei's (validation forbids
	// RENSEI_* in a group, but placement does not rely on it).
	env := map[string]string{"RENSEI_ENV": e.Name, "RENSEI_GROUP": g.Name, "RENSEI_INSTANCE": "", "RENSEI_SITE": "", "RENSEI_HOST": ""}
	maps.Copy(env, g.Env)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		v := envVar{name: k}
		_, set := g.Env[k]
		if perInstance := k == "RENSEI_INSTANCE" || k == "RENSEI_SITE" || k == "RENSEI_HOST"; set || !perInstance {
			v.fixed = k + "=" + env[k]
		}
		gs.env = append(gs.env, v)
	}
	gs.attach = attachments(e, g, nets)
	fileRefs := slices.ContainsFunc(g.Files, func(f schema.File) bool { return strings.Contains(f.Content, refPrefix) })
	if len(g.Files) > 0 && !fileRefs {
		gs.files = filesOf(g)
	}
	gs.refers = fileRefs || slices.ContainsFunc(g.Networks, func(a schema.Attachment) bool { return a.Static })
	for _, v := range g.Env {
		gs.refers = gs.refers || strings.Contains(v, refPrefix)
	}
	return gs
}

// attachments lists the attachments every instance of g makes: those to
// a network of the environment (the others are reported by validation),
// or, for a group without networks, to the implicit default network.
func attachments(e *schema.Environment, g *schema.Group, nets map[string]*netPlacement) []attachSpec {
	attach := g.Networks
	if len(attach) == 0 {
		if nets[DefaultNetwork] == nil {
			return []attachSpec{{local: DockerNetwork(e.Name, DefaultNetwork)}}
		}
		attach = []schema.Attachment{{Network: DefaultNetwork}}
	}
	var out []attachSpec
	for i := range attach {
		if np := nets[attach[i].Network]; np != nil {
			out = append(out, attachSpec{a: &attach[i], np: np})
		}
	}
	return out
}

// filesOf is the files of an instance of g, placement references unfilled.
func filesOf(g *schema.Group) []drivers.File {
	out := make([]drivers.File, len(g.Files))
	for i, f := range g.Files {
		mode := int64(f.Mode)
		if mode == 0 {
			mode = 0o644
		}
		out[i] = drivers.File{Path: f.Path, Content: f.Content, Mode: mode}
	}
	return out
}

// portsOn is the port bindings of the group's instances on h.
func (gs *groupSpec) portsOn(h *hostRef) []drivers.PortBinding {
	if out, ok := gs.ports[h]; ok {
		return out
	}
	out := make([]drivers.PortBinding, len(gs.g.Ports))
	for i, port := range gs.g.Ports {
		proto := port.Protocol
		if proto == "" {
			proto = "tcp"
		}
		out[i] = drivers.PortBinding{Container: port.Container, Host: port.Host, Protocol: proto, HostIP: publishAddress(h.spec)}
	}
	if gs.ports == nil {
		gs.ports = map[*hostRef][]drivers.PortBinding{}
	}
	gs.ports[h] = out
	return out
}

// envOf is the environment of one instance of the group, sorted by name.
func (gs *groupSpec) envOf(inst string, h *hostRef) []string {
	out := make([]string, len(gs.env))
	for i, v := range gs.env {
		switch {
		case v.fixed != "":
			out[i] = v.fixed
		case v.name == "RENSEI_INSTANCE":
			out[i] = "RENSEI_INSTANCE=" + inst
		case v.name == "RENSEI_SITE":
			out[i] = h.envSite
		case v.name == "RENSEI_HOST":
			out[i] = h.envHost
		}
	}
	return out
}

func (p *placer) instance(gs *groupSpec, inst string, h *hostRef) {
	e, t, g := gs.e, gs.t, gs.g
	name := ContainerName(e.Name, g.Name, inst)
	res := gs.res
	d := p.policy.Defaults
	c := drivers.ContainerSpec{
		Name:     name,
		Hostname: g.Name + "-" + inst,
		Image:    g.Image,
		Command:  g.Command,
		Env:      gs.envOf(inst, h),
		Restart:  g.Restart,
		NanoCPUs: int64(res.CPUs * 1e9),
		Memory:   res.Memory.N,
		Security: drivers.Security{PidsLimit: d.Pids, NoNewPrivileges: true, LogMaxSize: d.LogMaxSize, LogMaxFiles: d.LogMaxFiles},
	}
	if c.Restart == "" {
		c.Restart = schema.DefaultRestart
	}
	if g.Stop != nil {
		c.StopSignal, c.StopTimeout = g.Stop.Signal, g.Stop.Timeout
		if c.StopSignal == "" {
			c.StopSignal = "SIGTERM"
		}
	}
	var aliases []string
	if len(gs.attach) > 0 {
		c.Networks = make([]drivers.NetworkAttach, 0, len(gs.attach))
		// Shared by every attachment without aliases of its own:
		// nothing writes to a spec's aliases.
		aliases = []string{g.Name, c.Hostname}
	}
	for _, at := range gs.attach {
		if at.np == nil {
			p.localNetwork(e, h, at.local)
			c.Networks = append(c.Networks, drivers.NetworkAttach{Network: at.local, Aliases: aliases})
			continue
		}
		a := at.a
		if a.Static && a.Address != "" {
			p.problem(e.Source, "environment %q: group %q: network %q: static: true and address %s: choose one", e.Name, g.Name, a.Network, a.Address)
		}
		at.np.use(h, a.Address == "" && !a.Static)
		own := aliases
		if len(a.Aliases) > 0 {
			own = append(append(make([]string, 0, 2+len(a.Aliases)), aliases...), a.Aliases...)
		}
		c.Networks = append(c.Networks, drivers.NetworkAttach{Network: at.np.docker, IPv4: a.Address, Aliases: own})
		if a.Static {
			// Given from the static block once every instance is placed.
			at.np.statics = append(at.np.statics, staticWant{host: h, container: name, instance: PinKey(e.Name, g.Name, inst)})
		}
	}
	if len(g.Volumes) > 0 {
		c.Mounts = make([]drivers.Mount, 0, len(g.Volumes))
	}
	for _, v := range g.Volumes {
		vol := VolumeName(e.Name, g.Name, inst, v)
		c.Mounts = append(c.Mounts, drivers.Mount{Volume: vol, Target: v.Path, ReadOnly: v.ReadOnly})
		labels := map[string]string{drivers.LabelEnv: e.Name, drivers.LabelVolume: v.Name}
		if v.Scope != "environment" {
			labels[drivers.LabelGroup] = g.Name
			labels[drivers.LabelInstance] = inst
		}
		h.out.Volumes = append(h.out.Volumes, drivers.VolumeSpec{Name: vol, Labels: p.labels(labels, "")})
		if p.usageOf(t) != nil {
			p.countVolume(t, h.key+"/"+vol)
		}
	}
	switch {
	case gs.files != nil:
		c.Files = gs.files
	case len(g.Files) > 0:
		// fillReferences writes each instance's own references into them.
		c.Files = filesOf(g)
	}
	if len(g.Ports) > 0 {
		c.Ports = gs.portsOn(h)
	}
	for _, port := range c.Ports {
		if port.Host != 0 {
			key := fmt.Sprintf("%s/%d", port.Protocol, port.Host)
			if other, dup := h.ports[key]; dup {
				p.problem(e.Source, "environment %q: group %q: host port %s on %s is also published by %s", e.Name, g.Name, key, h.key, other)
			}
			h.ports[key] = name
		}
	}
	// The spec hash and fields are taken in finish, once static addresses
	// and placement references are filled in (seal).
	c.Labels = make(map[string]string, p.containerLabels)
	c.Labels[drivers.LabelEnv] = e.Name
	c.Labels[drivers.LabelGroup] = g.Name
	c.Labels[drivers.LabelInstance] = inst
	c.Labels[drivers.LabelContent] = p.dig.content(gs.content, inst)
	h.out.Containers = append(h.out.Containers, c)
	if p.instances != nil {
		p.instances[PinKey(e.Name, g.Name, inst)] = instanceRef{host: h, container: name}
	}
}

// seal labels a finished container spec: the fields' digests and the
// spec hash (of the spec without labels), and the labels every owned
// object carries.
func (p *placer) seal(d *digester, c *drivers.ContainerSpec) {
	c.Labels[drivers.LabelSpecFields] = d.fieldDigests(c)
	p.labels(c.Labels, d.spec(c))
}

// DefaultPublish is where published ports bind on a host that declares no
// publish address: loopback, never every interface.
const DefaultPublish = "127.0.0.1"

func publishAddress(h schema.Host) string {
	if h.Publish != "" {
		return h.Publish
	}
	return DefaultPublish
}

// localNetwork adds the environment's implicit default network, whose
// Docker name is name, to h: a bridge of the environment on that host
// alone, whose subnet Docker allocates (no overlay, no tunnel).
func (p *placer) localNetwork(e *schema.Environment, h *hostRef, name string) {
	for _, n := range h.out.Networks {
		if n.Name == name {
			return
		}
	}
	spec := drivers.NetworkSpec{Name: name}
	spec.Labels = p.labels(map[string]string{drivers.LabelEnv: e.Name, drivers.LabelNetwork: DefaultNetwork}, specDigest(spec))
	h.out.Networks = append(h.out.Networks, spec)
}

// labels adds the labels every owned object carries. The commit label is
// not part of the spec hash: a new commit alone changes nothing.
func (p *placer) labels(l map[string]string, hash string) map[string]string {
	l[drivers.LabelManaged] = "true"
	if hash != "" {
		l[drivers.LabelSpecHash] = hash
	}
	if p.opts.Commit != "" {
		l[drivers.LabelCommit] = p.opts.Commit
	}
	if p.opts.Scope != "" {
		l[drivers.LabelScope] = p.opts.Scope
	}
	return l
}

// containerFields are the parts of a container spec a plan reports on,
// in the order of the io.rensei.spec-fields label, each with the JSON
// encoding of its value that its digest is of (the image is kept verbatim).
var containerFields = []struct {
	name   string
	encode func(b []byte, c *drivers.ContainerSpec) []byte
}{
	{"image", nil},
	{"command", func(b []byte, c *drivers.ContainerSpec) []byte { return appendStrings(b, c.Command) }},
	{"env", func(b []byte, c *drivers.ContainerSpec) []byte { return appendStrings(b, c.Env) }},
	{"resources", func(b []byte, c *drivers.ContainerSpec) []byte { // [nanoCPUs, memory]
		b = append(b, '[')
		b = strconv.AppendInt(b, c.NanoCPUs, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, c.Memory, 10)
		return append(b, ']')
	}},
	{"restart", func(b []byte, c *drivers.ContainerSpec) []byte { return appendString(b, c.Restart) }},
	{"networks", func(b []byte, c *drivers.ContainerSpec) []byte { return appendAttachments(b, c.Networks) }},
	{"volumes", func(b []byte, c *drivers.ContainerSpec) []byte { return appendMounts(b, c.Mounts) }},
	{"files", func(b []byte, c *drivers.ContainerSpec) []byte { return appendFiles(b, c.Files) }},
	{"ports", func(b []byte, c *drivers.ContainerSpec) []byte { return appendPorts(b, c.Ports) }},
	{"hostname", func(b []byte, c *drivers.ContainerSpec) []byte { return appendString(b, c.Hostname) }},
	{"security", func(b []byte, c *drivers.ContainerSpec) []byte { return appendSecurity(b, c.Security) }},
	{"stop", func(b []byte, c *drivers.ContainerSpec) []byte { // [signal, timeout]
		b = append(b, '[')
		b = appendString(b, c.StopSignal)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(c.StopTimeout), 10)
		return append(b, ']')
	}},
}

// SecretsField is the spec-fields entry holding the digest of the secret
// values a container uses (package engine seals it; never a value).
const SecretsField = "secrets"

// ChangedFields compares two io.rensei.spec-fields labels and describes
// what differs, e.g. "image changed: a → b; env changed".
func ChangedFields(have, want string) string {
	parse := func(s string) map[string]string {
		m := map[string]string{}
		for _, kv := range strings.Split(s, ";") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				m[k] = v
			}
		}
		return m
	}
	h, w := parse(have), parse(want)
	var out []string
	for _, f := range containerFields {
		if h[f.name] == w[f.name] {
			continue
		}
		if f.name == "image" {
			out = append(out, fmt.Sprintf("image changed: %s → %s", h[f.name], w[f.name]))
		} else {
			out = append(out, f.name+" changed")
		}
	}
	if h[SecretsField] != w[SecretsField] {
		out = append(out, "a secret it uses changed")
	}
	return strings.Join(out, "; ")
}

// finish gives out static addresses, fills in placement references,
// seals the containers, emits networks and tunnels, runs the per-host
// checks and sorts.
func (p *placer) finish() {
	for _, np := range p.networks {
		p.allocateStatic(np)
	}
	p.fillReferences()
	p.access()
	for _, np := range p.networks {
		p.finishNetwork(np)
	}
	p.quotas()
	keys := slices.Sorted(maps.Keys(p.hosts))
	for _, key := range keys {
		p.checkOverlaps(p.hosts[key])
	}
	// Sealing (the digests: about half of placing a campus) touches each
	// container alone: the hosts are sealed in parallel, a digester each.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(keys)) {
		wg.Go(func() {
			d := &digester{}
			for i := int(next.Add(1) - 1); i < len(keys); i = int(next.Add(1) - 1) {
				out := p.hosts[keys[i]].out
				for j := range out.Containers {
					p.seal(d, &out.Containers[j])
				}
				sortByName(out.Containers)
				sort.Slice(out.Networks, func(i, j int) bool { return out.Networks[i].Name < out.Networks[j].Name })
				sort.Slice(out.Tunnels, func(i, j int) bool { return out.Tunnels[i].Name < out.Tunnels[j].Name })
				out.Volumes = dedupVolumes(out.Volumes)
			}
		})
	}
	wg.Wait()
}

// sortByName sorts containers by name (unique, so any sort gives the one
// order), moving each spec at most once: a spec is large to swap.
func sortByName(cs []drivers.ContainerSpec) {
	// from[i] is the index of the spec that goes to i.
	from := make([]int32, len(cs))
	for i := range from {
		from[i] = int32(i)
	}
	slices.SortFunc(from, func(a, b int32) int { return strings.Compare(cs[a].Name, cs[b].Name) })
	for i := range from {
		if from[i] == int32(i) {
			continue
		}
		// Follow the cycle through i, moving each spec into place.
		held := cs[i]
		j := i
		for {
			k := int(from[j])
			from[j] = int32(j)
			if k == i {
				cs[j] = held
				break
			}
			cs[j] = cs[k]
			j = k
		}
	}
}

// dedupVolumes sorts volumes and keeps one of each environment-scoped volume.
func dedupVolumes(vs []drivers.VolumeSpec) []drivers.VolumeSpec {
	sort.Slice(vs, func(i, j int) bool { return vs[i].Name < vs[j].Name })
	return slices.CompactFunc(vs, func(a, b drivers.VolumeSpec) bool { return a.Name == b.Name })
}
