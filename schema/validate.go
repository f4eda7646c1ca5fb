package schema

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strings"

	"github.com/distribution/reference"
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
}

func (v *validator) run() error {
	v.sites = map[string]*Site{}
	underlays := map[string]string{}
	for i := range v.topo.Sites {
		s := &v.topo.Sites[i]
		v.site(s, underlays)
	}
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
		v.env(e, vnis)
	}
	return v.r.out.Err()
}

func (v *validator) site(s *Site, underlays map[string]string) {
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
		if h.Underlay != "" {
			a, err := netip.ParseAddr(h.Underlay)
			if err != nil || !a.Is4() {
				hat([]string{h.Underlay}, "underlay %q is not an IPv4 address", h.Underlay)
			} else if other, dup := underlays[h.Underlay]; dup {
				hat([]string{h.Underlay}, "underlay %s is also used by %s", h.Underlay, other)
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

func (v *validator) env(e *Environment, vnis map[int]string) {
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
		v.group(e, g, nets, statics)
	}
}

func (v *validator) group(e *Environment, g *Group, nets map[string]*Network, statics map[string]string) {
	at := func(needles []string, format string, args ...any) {
		v.r.at(e.Source, "environments."+e.Name+".groups."+g.Name, []string{e.Name, "groups", g.Name}, needles,
			"environment %q: group %q: "+format, append([]any{e.Name, g.Name}, args...)...)
	}
	if msg := validName(g.Name, MaxObjectName); msg != "" {
		at(nil, "%s", msg)
	}
	if g.Image == "" {
		at([]string{"image"}, "image is empty")
	} else if _, err := reference.ParseNormalizedNamed(g.Image); err != nil {
		at([]string{g.Image}, "image %q: %v", g.Image, err)
	}
	switch {
	case g.Replicas < 0:
		at([]string{"replicas"}, "replicas %d is negative", g.Replicas)
	case g.Replicas > MaxReplicas:
		at([]string{"replicas"}, "replicas %d is more than %d", g.Replicas, MaxReplicas)
	case g.Replicas > 0 && len(g.Members) > 0:
		at([]string{"replicas", "members"}, "replicas and members are mutually exclusive")
	}
	seen := map[string]bool{}
	for _, m := range g.Members {
		if msg := validName(m, MaxObjectName); msg != "" {
			at([]string{m}, "member: %s", msg)
		} else if seen[m] {
			at([]string{m}, "member %q is listed twice", m)
		}
		seen[m] = true
	}
	for _, inst := range g.Instances() {
		if host := g.Name + "-" + inst; len(host) > MaxHostnameLen {
			at([]string{inst}, "hostname %q is longer than %d bytes", host, MaxHostnameLen)
		}
		if name := e.Name + "_" + g.Name + "_" + inst; len(name) > MaxDockerName {
			at([]string{inst}, "container name %q is longer than %d bytes", name, MaxDockerName)
		}
	}
	switch g.Restart {
	case "", "no", "always", "unless-stopped", "on-failure":
	default:
		at([]string{g.Restart}, "restart %q: want no, always, unless-stopped or on-failure", g.Restart)
	}
	v.placement(g, at)
	if g.Resources.CPUs < 0 {
		at([]string{"cpus"}, "resources: cpus %v is negative", g.Resources.CPUs)
	}
	if err := g.Resources.Memory.Err(); err != nil {
		at([]string{g.Resources.Memory.Text}, "resources: memory %q: %v", g.Resources.Memory.Text, err)
	}
	attached := map[string]bool{}
	for _, a := range g.Networks {
		n := nets[a.Network]
		switch {
		case n == nil:
			at([]string{a.Network}, "unknown network %q", a.Network)
			continue
		case attached[a.Network]:
			at([]string{a.Network}, "network %q attached twice", a.Network)
		}
		attached[a.Network] = true
		if a.Address != "" {
			v.static(e, g, n, a.Address, statics, at)
		}
	}
	vols := map[string]bool{}
	for _, vol := range g.Volumes {
		if msg := validName(vol.Name, MaxObjectName); msg != "" {
			at([]string{vol.Name}, "volume: %s", msg)
		}
		if vols[vol.Name] {
			at([]string{vol.Name}, "volume %q mounted twice", vol.Name)
		}
		vols[vol.Name] = true
		if !path.IsAbs(vol.Path) {
			at([]string{vol.Path, vol.Name}, "volume %q: path %q is not absolute", vol.Name, vol.Path)
		}
		switch vol.Scope {
		case "", "instance", "environment":
		default:
			at([]string{vol.Scope}, "volume %q: scope %q: want instance or environment", vol.Name, vol.Scope)
		}
	}
	files := map[string]bool{}
	for _, f := range g.Files {
		switch {
		case !path.IsAbs(f.Path) || path.Clean(f.Path) == "/":
			at([]string{f.Path}, "file %q: path must be absolute", f.Path)
		case files[f.Path]:
			at([]string{f.Path}, "file %q defined twice", f.Path)
		case f.Mode < 0 || f.Mode > 0o7777:
			at([]string{f.Path}, "file %q: mode %o is not a file mode", f.Path, f.Mode)
		}
		files[f.Path] = true
	}
	for _, p := range g.Ports {
		if p.Container < 1 || p.Container > 65535 || p.Host < 0 || p.Host > 65535 {
			at([]string{"ports"}, "port %d:%d is outside 1..65535", p.Host, p.Container)
		}
		if p.Protocol != "" && p.Protocol != "tcp" && p.Protocol != "udp" {
			at([]string{p.Protocol}, "port protocol %q: want tcp or udp", p.Protocol)
		}
		if p.Host != 0 && len(g.Instances()) > 1 {
			at([]string{"ports"}, "host port %d would be published by %d instances; give groups with a host port one instance", p.Host, len(g.Instances()))
		}
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
