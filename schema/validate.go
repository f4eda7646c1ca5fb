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
	v := &validator{r: &reporter{sources: map[string][]byte{}}, topo: t}
	return v.run()
}

// validateWith is Validate with the files' contents, for line lookup.
func validateWith(t *Topology, sources map[string][]byte) error {
	v := &validator{r: &reporter{sources: sources}, topo: t}
	return v.run()
}

type validator struct {
	r     *reporter
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
		s := &v.topo.Sites[i]
		v.site(s, underlays, endpoints)
	}
	v.policy(v.topo.Policy)
	envs := map[string]bool{}
	vnis := map[int]string{}
	for i := range v.topo.Environments {
		e := &v.topo.Environments[i]
		if msg := validName(e.Name, MaxEnvName); msg != "" {
			v.r.at(e.Source, "environments", []string{e.Name}, nil, "environment: %s", msg)
		}
		if envs[e.Name] {
			v.r.at(e.Source, "environments", []string{e.Name}, nil, "environment %q is defined twice", e.Name)
		}
		envs[e.Name] = true
		t := v.topo.Policy.TenantOf(e)
		if t == nil {
			v.r.at(e.Source, "environments", []string{e.Name}, nil,
				"environment %q (%s) belongs to no tenant of the policy (%s): add its file to a tenant's paths or its name to a tenant's environments",
				e.Name, e.Source.File, policyFiles(v.topo.Policy))
		}
		v.env(e, t, vnis)
	}
	return v.r.out.Err()
}

// policyFiles names where the policy is, for messages.
func policyFiles(p *Policy) string {
	if p.Source.File == "" {
		return "policy/*.jsonnet"
	}
	return p.Source.File
}

func (v *validator) site(s *Site, underlays, endpoints map[string]string) {
	at := func(needles []string, format string, args ...any) {
		v.r.at(s.Source, "sites."+s.Name, []string{s.Name}, needles, "site %q: "+format, append([]any{s.Name}, args...)...)
	}
	hostAt := func(h Host, needles []string, format string, args ...any) {
		v.r.at(s.Source, "sites."+s.Name+".hosts."+h.Name, []string{s.Name, h.Name}, needles, "site %q: host %q: "+format, append([]any{s.Name, h.Name}, args...)...)
	}
	if msg := validName(s.Name, MaxSiteName); msg != "" {
		at([]string{s.Name}, "%s", msg)
	}
	if _, dup := v.sites[s.Name]; dup {
		at([]string{s.Name}, "defined twice")
	}
	v.sites[s.Name] = s
	if len(s.Hosts) == 0 {
		at([]string{s.Name}, "has no hosts")
	}
	hosts := map[string]bool{}
	for _, h := range s.Hosts {
		hat := func(needles []string, format string, args ...any) { hostAt(h, needles, format, args...) }
		if msg := validName(h.Name, MaxHostName); msg != "" {
			hat(nil, "%s", msg)
		}
		if hosts[h.Name] {
			hat(nil, "defined twice")
		}
		hosts[h.Name] = true
		scheme, _, _ := strings.Cut(h.Docker, "://")
		switch scheme {
		case "unix", "tcp", "ssh":
		default:
			hat([]string{h.Docker}, "docker endpoint %q: want unix://, tcp:// or ssh://", h.Docker)
		}
		if h.TLS != nil && scheme != "tcp" {
			hat([]string{"tls"}, "tls is only for tcp:// endpoints")
		}
		if scheme == "tcp" && h.TLS == nil {
			if !h.Insecure {
				hat([]string{h.Docker}, "docker endpoint %s has no tls: anyone on the path could run containers as root; give tls files, or insecure: true to accept that", h.Docker)
			} else {
				src := s.Source
				src.Line = locate(v.r.sources[s.Source.File], []string{s.Name, h.Name}, []string{h.Docker})
				v.topo.Warnings = append(v.topo.Warnings, Problem{File: src.File, Line: src.Line,
					Msg: fmt.Sprintf("site %q: host %q: docker endpoint %s without TLS (insecure: true): anyone on the path can run containers as root", s.Name, h.Name, h.Docker)})
			}
		}
		if other, dup := endpoints[h.Docker]; dup && h.Docker != "" {
			hat([]string{h.Docker}, "docker endpoint %s is also host %s: one engine would be applied twice, each host's plan deleting the other's containers", h.Docker, other)
		}
		endpoints[h.Docker] = s.Name + "/" + h.Name
		if h.Publish != "" {
			if a, err := netip.ParseAddr(h.Publish); err != nil || !a.Is4() || a.IsUnspecified() {
				hat([]string{h.Publish}, "publish %q: want one IPv4 address of the host (never 0.0.0.0: all interfaces)", h.Publish)
			}
		}
		for _, lan := range h.LANs {
			p, err := netip.ParsePrefix(lan)
			if err != nil || !p.Addr().Is4() {
				hat([]string{lan}, "lans: %q is not an IPv4 CIDR", lan)
				continue
			}
			v.reserved = append(v.reserved, reservedRange{p.Masked(), fmt.Sprintf("the LAN %s of host %s/%s", p.Masked(), s.Name, h.Name)})
		}
		if h.Underlay != "" {
			a, err := netip.ParseAddr(h.Underlay)
			if err != nil || !a.Is4() {
				hat([]string{h.Underlay}, "underlay %q is not an IPv4 address", h.Underlay)
			} else if other, dup := underlays[h.Underlay]; dup {
				hat([]string{h.Underlay}, "underlay %s is also used by %s", h.Underlay, other)
			} else {
				v.reserved = append(v.reserved, reservedRange{netip.PrefixFrom(a, 32), fmt.Sprintf("the underlay address %s of host %s/%s", a, s.Name, h.Name)})
			}
			underlays[h.Underlay] = s.Name + "/" + h.Name
		}
		if h.Netns != "" && (len(h.Netns) > 64 || strings.ContainsAny(h.Netns, "/ ")) {
			hat([]string{h.Netns}, "netns %q is not a namespace name", h.Netns)
		}
		if c := h.Capacity; c != nil {
			if c.CPUs < 0 || c.Containers < 0 {
				hat([]string{"capacity"}, "capacity must not be negative")
			}
			if err := c.Memory.Err(); err != nil {
				hat([]string{c.Memory.Text}, "capacity memory %q: %v", c.Memory.Text, err)
			}
		}
	}
}

func (v *validator) env(e *Environment, t *Tenant, vnis map[int]string) {
	v.aliases = map[string]string{}
	at := func(needles []string, format string, args ...any) {
		v.r.at(e.Source, "environments."+e.Name, []string{e.Name}, needles, "environment %q: "+format, append([]any{e.Name}, args...)...)
	}
	netAt := func(n *Network, needles []string, format string, args ...any) {
		v.r.at(e.Source, "environments."+e.Name+".networks."+n.Name, []string{e.Name, "networks", n.Name}, needles, "environment %q: network %q: "+format, append([]any{e.Name, n.Name}, args...)...)
	}
	if w := e.Active; w != nil {
		from, until := w.Bounds()
		switch {
		case w.From.Err() != nil:
			at([]string{"from"}, "active window: from %q: %v", w.From.Text, w.From.Err())
		case w.Until.Err() != nil:
			at([]string{"until"}, "active window: until %q: %v", w.Until.Text, w.Until.Err())
		case !from.IsZero() && !until.IsZero() && !until.After(from):
			at([]string{"until"}, "active window: until %s is not after from %s", w.Until, w.From)
		}
	}
	nets := map[string]*Network{}
	var subnets []struct {
		name string
		p    netip.Prefix
	}
	for i := range e.Networks {
		n := &e.Networks[i]
		nat := func(needles []string, format string, args ...any) { netAt(n, needles, format, args...) }
		if msg := validName(n.Name, MaxObjectName); msg != "" {
			nat(nil, "%s", msg)
		}
		if nets[n.Name] != nil {
			nat(nil, "defined twice")
		}
		nets[n.Name] = n
		if _, _, err := n.Blocks(); err != nil {
			nat([]string{n.Subnet}, "%v", err)
		} else {
			p := netip.MustParsePrefix(n.Subnet)
			if why := v.subnetClash(p, t); why != "" {
				nat([]string{n.Subnet}, "subnet %s %s", p, why)
			}
			for _, o := range subnets {
				if o.p.Overlaps(p) {
					nat([]string{n.Subnet}, "subnet %s overlaps network %q (%s)", p, o.name, o.p)
				}
			}
			subnets = append(subnets, struct {
				name string
				p    netip.Prefix
			}{n.Name, p})
		}
		if n.VNI < 0 || n.VNI > MaxVNI {
			nat([]string{"vni"}, "vni %d is outside 1..%d", n.VNI, MaxVNI)
		} else if n.VNI != 0 {
			if other, dup := vnis[n.VNI]; dup {
				nat([]string{"vni"}, "vni %d is also used by %s", n.VNI, other)
			}
			vnis[n.VNI] = e.Name + "/" + n.Name
		}
		if n.MTU != 0 && (n.MTU < 576 || n.MTU > 9000) {
			nat([]string{"mtu"}, "mtu %d is outside 576..9000", n.MTU)
		}
		if err := n.Bandwidth.Err(); err != nil {
			nat([]string{n.Bandwidth.Text}, "bandwidth %q: %v", n.Bandwidth.Text, err)
		}
	}
	groups := map[string]bool{}
	statics := map[string]string{}
	for i := range e.Groups {
		g := &e.Groups[i]
		if groups[g.Name] {
			at([]string{g.Name}, "group %q: defined twice", g.Name)
		}
		groups[g.Name] = true
		v.group(e, g, t, nets, statics)
	}
}

func (v *validator) placement(g *Group, at func([]string, string, ...any)) {
	switch g.Placement.Strategy {
	case "", "spread", "pack":
	default:
		at([]string{g.Placement.Strategy}, "placement strategy %q: want spread or pack", g.Placement.Strategy)
	}
	sites := g.Placement.Sites
	if len(sites) == 0 {
		for _, s := range v.topo.Sites {
			sites = append(sites, s.Name)
		}
	}
	matched, unknown := false, false
	for _, name := range sites {
		s := v.sites[name]
		if s == nil {
			at([]string{name}, "unknown site %q", name)
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
		at([]string{"hostLabels", "placement"}, "no host matches the placement (sites %v, host labels %v)", sites, g.Placement.HostLabels)
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

func (v *validator) static(e *Environment, g *Group, n *Network, addr string, statics map[string]string, at func([]string, string, ...any)) {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() {
		at([]string{addr}, "address %q is not an IPv4 address", addr)
		return
	}
	if len(g.Instances()) != 1 {
		at([]string{addr}, "static address %s needs a group of exactly one instance, not %d (set replicas: 1; a group without replicas or members has none)", addr, len(g.Instances()))
	}
	static, _, err := n.Blocks()
	if err != nil {
		return // reported with the network
	}
	subnet := netip.MustParsePrefix(n.Subnet)
	switch {
	case !subnet.Contains(a):
		at([]string{addr}, "address %s is outside the subnet %s of network %q", addr, subnet, n.Name)
	case a == subnet.Addr():
		at([]string{addr}, "address %s is the network address of %s", addr, subnet)
	case !static.Contains(a):
		last := static.Addr()
		for i := 0; i < 1<<(32-static.Bits())-1; i++ {
			last = last.Next()
		}
		at([]string{addr}, "address %s is in a per-host block of network %q; static addresses go in %s–%s", addr, n.Name, static.Addr().Next(), last)
	}
	key := n.Name + "/" + a.String()
	if other, dup := statics[key]; dup {
		at([]string{addr}, "address %s on network %q is also used by group %q", addr, n.Name, other)
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
	src := p.Source
	at := func(anchors []string, format string, args ...any) {
		v.r.at(src, "policy", anchors, nil, "policy: "+format, args...)
	}
	if p.Deployment != "" {
		if msg := validName(p.Deployment, MaxObjectName); msg != "" {
			at([]string{"deployment"}, "deployment: %s", msg)
		}
	}
	d := p.Defaults
	if err := d.Memory.Err(); err != nil {
		at([]string{"defaults"}, "defaults: memory %q: %v", d.Memory.Text, err)
	}
	if d.CPUs < 0 || (d.CPUs > 0 && d.CPUs < MinCPUs) || d.Pids < 0 || d.LogMaxFiles < 0 {
		at([]string{"defaults"}, "defaults: cpus, pids and logMaxFiles must not be negative (cpus at least %v)", MinCPUs)
	}
	if d.LogMaxSize != "" && !regexp.MustCompile(`^[0-9]+[kmg]$`).MatchString(d.LogMaxSize) {
		at([]string{"logMaxSize"}, "defaults: logMaxSize %q: want e.g. 10m (Docker's json-file option)", d.LogMaxSize)
	}
	names := map[string]bool{}
	for i := range p.Tenants {
		t := &p.Tenants[i]
		tat := func(needles []string, format string, args ...any) {
			v.r.at(t.Source, "policy.tenants."+t.Name, []string{t.Name}, needles, "policy: tenant %q: "+format, append([]any{t.Name}, args...)...)
		}
		if msg := validName(t.Name, MaxObjectName); msg != "" {
			tat(nil, "%s", msg)
		}
		if names[t.Name] {
			tat(nil, "defined twice")
		}
		names[t.Name] = true
		if len(t.Paths) == 0 && len(t.Environments) == 0 {
			tat([]string{t.Name}, "owns nothing: give paths or environments")
		}
		for _, g := range append(append([]string{}, t.Environments...), t.Secrets...) {
			if _, err := path.Match(g, ""); err != nil {
				tat([]string{g}, "pattern %q: %v", g, err)
			}
		}
		for _, s := range t.Sites {
			if v.sites[s] == nil {
				tat([]string{s}, "unknown site %q", s)
			}
		}
		for _, r := range t.HostPorts {
			if _, _, err := portRange(r); err != nil {
				tat([]string{r}, "%v", err)
			}
		}
		for _, s := range t.Subnets {
			if pr, err := netip.ParsePrefix(s); err != nil || !pr.Addr().Is4() {
				tat([]string{s}, "subnets: %q is not an IPv4 CIDR", s)
			}
		}
		for _, b := range []Bytes{t.MaxResources.Memory, t.Quota.Memory} {
			if err := b.Err(); err != nil {
				tat([]string{b.Text}, "memory %q: %v", b.Text, err)
			}
		}
		if t.MaxReplicas < 0 || t.Quota.Containers < 0 || t.Quota.Volumes < 0 || t.Quota.CPUs < 0 || t.MaxResources.CPUs < 0 {
			tat([]string{t.Name}, "limits and quotas must not be negative")
		}
	}
}
