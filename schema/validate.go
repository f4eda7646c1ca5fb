package schema

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strings"
)

// Limits on names. Docker names (containers, networks, volumes) are built
// as "<env>_<group>_<instance>"; a container's hostname "<group>-<instance>"
// must fit a DNS label (63 bytes); interface names (15 bytes) are built from
// the VNI only, so names never overflow them.
const (
	MaxSiteName     = 32
	MaxHostName     = 32
	MaxEnvName      = 40
	MaxObjectName   = 40
	MaxHostnameLen  = 63
	MaxDockerName   = 128
	MaxVNI          = 1<<24 - 1
	MaxReplicas     = 10000
	MaxCPUs         = 1024
	MinMemory       = 6 << 20
	MaxHostBlocks   = 4096
	DefaultMTU      = 1450
	DefaultRestart  = "unless-stopped"
	DefaultStrategy = "spread"
)

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// validName reports why name is not a valid object name, or "" when it is.
func validName(name string, max int) string {
	switch {
	case name == "":
		return "name is empty"
	case len(name) > max:
		return fmt.Sprintf("name %q is %d bytes, longer than %d", name, len(name), max)
	case !nameRE.MatchString(name):
		return fmt.Sprintf("name %q must be lower-case letters, digits and inner dashes", name)
	}
	return ""
}

// Instances returns the instance names of a group: its members, or 0..replicas-1.
func (g Group) Instances() []string {
	if len(g.Members) > 0 {
		return g.Members
	}
	if g.Replicas <= 0 || g.Replicas > MaxReplicas {
		return nil // reported by validation
	}
	out := make([]string, g.Replicas)
	for i := range out {
		out[i] = fmt.Sprint(i)
	}
	return out
}

// Validate checks a topology on its own (placement-dependent checks live in
// reconcile/place) and returns Problems listing every error, or nil.
func Validate(t *Topology) error {
	v := &validator{r: &reporter{}, topo: t}
	return v.run()
}

// validateWith is Validate with where every object came from, so each
// problem is placed at the value that caused it.
func validateWith(t *Topology, srcs *sources) error {
	v := &validator{r: &reporter{srcs: srcs}, topo: t, srcs: srcs}
	return v.run()
}

type validator struct {
	r     *reporter
	srcs  *sources // nil: objects not loaded by Load
	topo  *Topology
	sites map[string]*Site
	// aliases are the hostnames answered on each network of the
	// environment being checked: "network/name" → group.
	aliases map[string]string
	// reserved are the ranges no overlay may overlap: every host's
	// underlay address and declared LANs.
	reserved []reservedRange
}

func (v *validator) run() error {
	v.sites = map[string]*Site{}
	if v.topo.Policy == nil {
		v.topo.Policy = DefaultPolicy()
	}
	underlays := map[string]string{}
	endpoints := map[string]string{}
	for i := range v.topo.Sites {
		v.site(v.item(v.topo.Sites[i].Source, i, func(s *sources) []*itemRef { return s.sites }), &v.topo.Sites[i], underlays, endpoints)
	}
	v.policy(v.topo.Policy)
	envs := map[string]bool{}
	vnis := map[int]string{}
	for i := range v.topo.Environments {
		e := &v.topo.Environments[i]
		it := v.item(e.Source, i, func(s *sources) []*itemRef { return s.envs })
		if msg := validName(e.Name, MaxEnvName); msg != "" {
			v.r.at(it, vpath{"name"}, "environment: %s", msg)
		}
		if envs[e.Name] {
			v.r.at(it, vpath{"name"}, "environment %q is defined twice", e.Name)
		}
		envs[e.Name] = true
		t := v.topo.Policy.TenantOf(e)
		if t == nil {
			v.r.at(it, vpath{"name"},
				"environment %q (%s) belongs to no tenant of the policy (%s): add its file to a tenant's paths or its name to a tenant's environments",
				e.Name, e.Source.File, policyFiles(v.topo.Policy))
		}
		v.env(it, e, t, vnis)
	}
	return v.r.out.Err()
}

// item is the i-th object of a kind (of) as the validator places problems.
func (v *validator) item(src Source, i int, of func(*sources) []*itemRef) item {
	it := item{src: src}
	if v.srcs != nil {
		if refs := of(v.srcs); i < len(refs) {
			it.ref = refs[i]
		}
	}
	return it
}

// policyFiles names where the policy is, for messages.
func policyFiles(p *Policy) string {
	if p.Source.File == "" {
		return "policy/*.jsonnet"
	}
	return p.Source.File
}

func (v *validator) site(it item, s *Site, underlays, endpoints map[string]string) {
	at := func(p vpath, format string, args ...any) {
		v.r.at(it, p, "site %q: "+format, append([]any{s.Name}, args...)...)
	}
	if msg := validName(s.Name, MaxSiteName); msg != "" {
		at(vpath{"name"}, "%s", msg)
	}
	if _, dup := v.sites[s.Name]; dup {
		at(vpath{"name"}, "defined twice")
	}
	v.sites[s.Name] = s
	if len(s.Hosts) == 0 {
		at(vpath{"hosts"}, "has no hosts")
	}
	hosts := map[string]bool{}
	for hi, h := range s.Hosts {
		hit := it.in("hosts", hi)
		hat := func(p vpath, format string, args ...any) {
			v.r.at(hit, p, "site %q: host %q: "+format, append([]any{s.Name, h.Name}, args...)...)
		}
		if msg := validName(h.Name, MaxHostName); msg != "" {
			hat(vpath{"name"}, "%s", msg)
		}
		if hosts[h.Name] {
			hat(vpath{"name"}, "defined twice")
		}
		hosts[h.Name] = true
		scheme, _, _ := strings.Cut(h.Docker, "://")
		switch scheme {
		case "unix", "tcp", "ssh":
		default:
			hat(vpath{"docker"}, "docker endpoint %q: want unix://, tcp:// or ssh://", h.Docker)
		}
		if h.TLS != nil && scheme != "tcp" {
			hat(vpath{"tls"}, "tls is only for tcp:// endpoints")
		}
		if scheme == "tcp" && h.TLS == nil {
			if !h.Insecure {
				hat(vpath{"docker"}, "docker endpoint %s has no tls: anyone on the path could run containers as root; give tls files, or insecure: true to accept that", h.Docker)
			} else if w := v.r.problem(hit, vpath{"docker"}, "site %q: host %q: docker endpoint %s without TLS (insecure: true): anyone on the path can run containers as root", s.Name, h.Name, h.Docker); w != nil {
				w.Path = ""
				v.topo.Warnings = append(v.topo.Warnings, *w)
			}
		}
		if other, dup := endpoints[h.Docker]; dup && h.Docker != "" {
			hat(vpath{"docker"}, "docker endpoint %s is also host %s: one engine would be applied twice, each host's plan deleting the other's containers", h.Docker, other)
		}
		endpoints[h.Docker] = s.Name + "/" + h.Name
		if h.Publish != "" {
			if a, err := netip.ParseAddr(h.Publish); err != nil || !a.Is4() || a.IsUnspecified() {
				hat(vpath{"publish"}, "publish %q: want one IPv4 address of the host (never 0.0.0.0: all interfaces)", h.Publish)
			}
		}
		for li, lan := range h.LANs {
			p, err := netip.ParsePrefix(lan)
			if err != nil || !p.Addr().Is4() {
				hat(vpath{"lans", li}, "lans: %q is not an IPv4 CIDR", lan)
				continue
			}
			v.reserved = append(v.reserved, reservedRange{p.Masked(), fmt.Sprintf("the LAN %s of host %s/%s", p.Masked(), s.Name, h.Name)})
		}
		if h.Underlay != "" {
			a, err := netip.ParseAddr(h.Underlay)
			if err != nil || !a.Is4() {
				hat(vpath{"underlay"}, "underlay %q is not an IPv4 address", h.Underlay)
			} else if other, dup := underlays[h.Underlay]; dup {
				hat(vpath{"underlay"}, "underlay %s is also used by %s", h.Underlay, other)
			} else {
				v.reserved = append(v.reserved, reservedRange{netip.PrefixFrom(a, 32), fmt.Sprintf("the underlay address %s of host %s/%s", a, s.Name, h.Name)})
			}
			underlays[h.Underlay] = s.Name + "/" + h.Name
		}
		if h.Netns != "" && (len(h.Netns) > 64 || strings.ContainsAny(h.Netns, "/ ")) {
			hat(vpath{"netns"}, "netns %q is not a namespace name", h.Netns)
		}
		if c := h.Capacity; c != nil {
			if c.CPUs < 0 || c.Containers < 0 {
				hat(vpath{"capacity"}, "capacity must not be negative")
			}
			if err := c.Memory.Err(); err != nil {
				hat(vpath{"capacity", "memory"}, "capacity memory %q: %v", c.Memory.Text, err)
			}
		}
	}
}

func (v *validator) env(it item, e *Environment, t *Tenant, vnis map[int]string) {
	v.aliases = map[string]string{}
	at := func(p vpath, format string, args ...any) {
		v.r.at(it, p, "environment %q: "+format, append([]any{e.Name}, args...)...)
	}
	if w := e.Active; w != nil {
		from, until := w.Bounds()
		switch {
		case w.From.Err() != nil:
			at(vpath{"active", "from"}, "active window: from %q: %v", w.From.Text, w.From.Err())
		case w.Until.Err() != nil:
			at(vpath{"active", "until"}, "active window: until %q: %v", w.Until.Text, w.Until.Err())
		case !from.IsZero() && !until.IsZero() && !until.After(from):
			at(vpath{"active", "until"}, "active window: until %s is not after from %s", w.Until, w.From)
		}
	}
	nets := map[string]*Network{}
	var subnets []struct {
		name string
		p    netip.Prefix
	}
	for i := range e.Networks {
		n := &e.Networks[i]
		nit := it.in("networks", i)
		nat := func(p vpath, format string, args ...any) {
			v.r.at(nit, p, "environment %q: network %q: "+format, append([]any{e.Name, n.Name}, args...)...)
		}
		if msg := validName(n.Name, MaxObjectName); msg != "" {
			nat(vpath{"name"}, "%s", msg)
		}
		if nets[n.Name] != nil {
			nat(vpath{"name"}, "defined twice")
		}
		nets[n.Name] = n
		if _, _, err := n.Blocks(); err != nil {
			field := "subnet"
			if _, perr := netip.ParsePrefix(n.Subnet); perr == nil && n.HostPrefix != 0 {
				field = "hostPrefix"
			}
			nat(vpath{field}, "%v", err)
		} else {
			p := netip.MustParsePrefix(n.Subnet)
			if why := v.subnetClash(p, t); why != "" {
				nat(vpath{"subnet"}, "subnet %s %s", p, why)
			}
			for _, o := range subnets {
				if o.p.Overlaps(p) {
					nat(vpath{"subnet"}, "subnet %s overlaps network %q (%s)", p, o.name, o.p)
				}
			}
			subnets = append(subnets, struct {
				name string
				p    netip.Prefix
			}{n.Name, p})
		}
		if n.VNI < 0 || n.VNI > MaxVNI {
			nat(vpath{"vni"}, "vni %d is outside 1..%d", n.VNI, MaxVNI)
		} else if n.VNI != 0 {
			if other, dup := vnis[n.VNI]; dup {
				nat(vpath{"vni"}, "vni %d is also used by %s", n.VNI, other)
			}
			vnis[n.VNI] = e.Name + "/" + n.Name
		}
		if n.MTU != 0 && (n.MTU < 576 || n.MTU > 9000) {
			nat(vpath{"mtu"}, "mtu %d is outside 576..9000", n.MTU)
		}
		if err := n.Bandwidth.Err(); err != nil {
			nat(vpath{"bandwidth"}, "bandwidth %q: %v", n.Bandwidth.Text, err)
		}
	}
	groups := map[string]bool{}
	statics := map[string]string{}
	for i := range e.Groups {
		g := &e.Groups[i]
		if groups[g.Name] {
			at(vpath{"groups", i, "name"}, "group %q: defined twice", g.Name)
		}
		groups[g.Name] = true
		v.group(it.in("groups", i), e, g, t, nets, statics)
	}
}

// at reports a problem about a value inside a group (its path relative to
// the group).
type at func(p vpath, format string, args ...any)

func (v *validator) placement(g *Group, at at) {
	switch g.Placement.Strategy {
	case "", "spread", "pack":
	default:
		at(vpath{"placement", "strategy"}, "placement strategy %q: want spread or pack", g.Placement.Strategy)
	}
	sites := g.Placement.Sites
	if len(sites) == 0 {
		for _, s := range v.topo.Sites {
			sites = append(sites, s.Name)
		}
	}
	matched, unknown := false, false
	for i, name := range sites {
		s := v.sites[name]
		if s == nil {
			at(vpath{"placement", "sites", i}, "unknown site %q", name)
			unknown = true
			continue
		}
		for _, h := range s.Hosts {
			if HostMatches(h, g.Placement.HostLabels) {
				matched = true
			}
		}
	}
	if !matched && !unknown && len(v.topo.Sites) > 0 {
		p := vpath{"placement"}
		if len(g.Placement.HostLabels) > 0 {
			p = vpath{"placement", "hostLabels"}
		}
		at(p, "no host matches the placement (sites %v, host labels %v)", sites, g.Placement.HostLabels)
	}
}

// HostMatches reports whether h carries every label in want.
func HostMatches(h Host, want map[string]string) bool {
	for k, v := range want {
		if h.Labels[k] != v {
			return false
		}
	}
	return true
}

func (v *validator) static(e *Environment, g *Group, n *Network, addr string, statics map[string]string, ap vpath, at at) {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() {
		at(ap, "address %q is not an IPv4 address", addr)
		return
	}
	if len(g.Instances()) != 1 {
		at(ap, "static address %s needs a group of exactly one instance, not %d (set replicas: 1; a group without replicas or members has none)", addr, len(g.Instances()))
	}
	static, _, err := n.Blocks()
	if err != nil {
		return // reported with the network
	}
	subnet := netip.MustParsePrefix(n.Subnet)
	switch {
	case !subnet.Contains(a):
		at(ap, "address %s is outside the subnet %s of network %q", addr, subnet, n.Name)
	case a == subnet.Addr():
		at(ap, "address %s is the network address of %s", addr, subnet)
	case !static.Contains(a):
		last := static.Addr()
		for i := 0; i < 1<<(32-static.Bits())-1; i++ {
			last = last.Next()
		}
		at(ap, "address %s is in a per-host block of network %q; static addresses go in %s–%s", addr, n.Name, static.Addr().Next(), last)
	}
	key := n.Name + "/" + a.String()
	if other, dup := statics[key]; dup {
		at(ap, "address %s on network %q is also used by group %q", addr, n.Name, other)
	}
	statics[key] = g.Name
}

// reservedRange is a range no overlay may overlap, and what it is.
type reservedRange struct {
	p    netip.Prefix
	what string
}

// special are ranges that are never an overlay: routing them into a bridge
// would break the host (a default route, loopback, link-local, multicast).
var special = []reservedRange{
	{netip.MustParsePrefix("0.0.0.0/8"), "the \"this network\" range 0.0.0.0/8"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback 127.0.0.0/8"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local 169.254.0.0/16"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast 224.0.0.0/4"},
	{netip.MustParsePrefix("240.0.0.0/4"), "the reserved range 240.0.0.0/4"},
}

// subnetClash says why an overlay subnet must not be used, or "": it
// overlaps a special range, a host's underlay address or LAN, or lies
// outside the tenant's address pools.
func (v *validator) subnetClash(p netip.Prefix, t *Tenant) string {
	if p.Bits() < 8 {
		return "is wider than /8: an overlay that large would swallow the host's routes"
	}
	for _, r := range append(special, v.reserved...) {
		if r.p.Overlaps(p) {
			return "overlaps " + r.what
		}
	}
	if t == nil {
		return ""
	}
	pools := t.Pools()
	for _, pool := range pools {
		if pool.Contains(p.Addr()) && pool.Bits() <= p.Bits() {
			return ""
		}
	}
	names := make([]string, len(pools))
	for i, pool := range pools {
		names[i] = pool.String()
	}
	return fmt.Sprintf("is outside the address pools of tenant %q (%s: %s)", t.Name, policyRule(t, "subnets"), strings.Join(names, ", "))
}

// policy checks the policy itself: names, patterns, ranges and sites.
func (v *validator) policy(p *Policy) {
	it := item{src: p.Source}
	if v.srcs != nil {
		it.ref = v.srcs.policy
	}
	at := func(q vpath, format string, args ...any) {
		v.r.at(it, q, "policy: "+format, args...)
	}
	if p.Deployment != "" {
		if msg := validName(p.Deployment, MaxObjectName); msg != "" {
			at(vpath{"deployment"}, "deployment: %s", msg)
		}
	}
	d := p.Defaults
	if err := d.Memory.Err(); err != nil {
		at(vpath{"defaults", "memory"}, "defaults: memory %q: %v", d.Memory.Text, err)
	}
	if d.CPUs < 0 || (d.CPUs > 0 && d.CPUs < MinCPUs) || d.Pids < 0 || d.LogMaxFiles < 0 {
		at(vpath{"defaults"}, "defaults: cpus, pids and logMaxFiles must not be negative (cpus at least %v)", MinCPUs)
	}
	if d.LogMaxSize != "" && !regexp.MustCompile(`^[0-9]+[kmg]$`).MatchString(d.LogMaxSize) {
		at(vpath{"defaults", "logMaxSize"}, "defaults: logMaxSize %q: want e.g. 10m (Docker's json-file option)", d.LogMaxSize)
	}
	names := map[string]bool{}
	for i := range p.Tenants {
		t := &p.Tenants[i]
		tit := v.item(t.Source, i, func(s *sources) []*itemRef { return s.tenants })
		tat := func(q vpath, format string, args ...any) {
			v.r.at(tit, q, "policy: tenant %q: "+format, append([]any{t.Name}, args...)...)
		}
		if msg := validName(t.Name, MaxObjectName); msg != "" {
			tat(vpath{"name"}, "%s", msg)
		}
		if names[t.Name] {
			tat(vpath{"name"}, "defined twice")
		}
		names[t.Name] = true
		if len(t.Paths) == 0 && len(t.Environments) == 0 {
			tat(vpath{"name"}, "owns nothing: give paths or environments")
		}
		for field, globs := range map[string][]string{"environments": t.Environments, "secrets": t.Secrets} {
			for j, g := range globs {
				if _, err := path.Match(g, ""); err != nil {
					tat(vpath{field, j}, "pattern %q: %v", g, err)
				}
			}
		}
		for j, s := range t.Sites {
			if v.sites[s] == nil {
				tat(vpath{"sites", j}, "unknown site %q", s)
			}
		}
		for j, r := range t.HostPorts {
			if _, _, err := portRange(r); err != nil {
				tat(vpath{"hostPorts", j}, "%v", err)
			}
		}
		for j, s := range t.Subnets {
			if pr, err := netip.ParsePrefix(s); err != nil || !pr.Addr().Is4() {
				tat(vpath{"subnets", j}, "subnets: %q is not an IPv4 CIDR", s)
			}
		}
		for _, m := range []struct {
			b Bytes
			p vpath
		}{{t.MaxResources.Memory, vpath{"maxResources", "memory"}}, {t.Quota.Memory, vpath{"quota", "memory"}}} {
			if err := m.b.Err(); err != nil {
				tat(m.p, "memory %q: %v", m.b.Text, err)
			}
		}
		if t.MaxReplicas < 0 || t.Quota.Containers < 0 || t.Quota.Volumes < 0 || t.Quota.CPUs < 0 || t.MaxResources.CPUs < 0 {
			tat(vpath{"name"}, "limits and quotas must not be negative")
		}
	}
}
