package place

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/schema"
)

// staticWant is an attachment waiting for a static address.
type staticWant struct {
	host      *hostRef
	container string
	instance  string // "env/group/instance"
}

// instanceRef is where an instance was placed.
type instanceRef struct {
	host      *hostRef
	container string
}

// spec returns the container spec named name, through an index made on
// first use: only once every instance is placed (finish appends no
// container, so the pointers stay good).
func (p *placer) spec(name string) *drivers.ContainerSpec {
	if p.specs == nil {
		p.specs = map[string]*drivers.ContainerSpec{}
		for _, h := range p.hosts {
			for i := range h.out.Containers {
				p.specs[h.out.Containers[i].Name] = &h.out.Containers[i]
			}
		}
	}
	return p.specs[name]
}

// AccessRow is how one member reaches their instance.
type AccessRow struct {
	Env       string `json:"env"`
	Group     string `json:"group"`
	Instance  string `json:"instance"`
	Container string `json:"container"`
	Site      string `json:"site"`
	Host      string `json:"host"` // "site/host"
	URL       string `json:"url"`
	// Token still holds its secret references: rensei access fills them
	// in on the machine holding the secrets.
	Token string `json:"token,omitempty"`
}

// allocateStatic gives every attachment of np that asked for one a static
// address from the network's static block: its pinned address when it
// still fits, otherwise a slot chosen by hashing the instance's name and
// probing forward, in container-name order. Explicit addresses are never
// given out. An instance keeps its address as long as the hosts report it
// (Pins.Addresses); without pins the same roster gives the same addresses.
func (p *placer) allocateStatic(np *netPlacement) {
	if len(np.statics) == 0 {
		return
	}
	dockerNet := DockerNetwork(np.env.Name, np.net.Name)
	block := np.static
	size := uint64(1) << (32 - block.Bits())
	base := binary.BigEndian.Uint32(block.Addr().AsSlice())
	addr := func(off uint64) string {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], base+uint32(off))
		return netip.AddrFrom4(b).String()
	}
	used := map[string]bool{addr(0): true} // the subnet's own address
	for key, r := range p.instances {
		if !strings.HasPrefix(key, np.env.Name+"/") {
			continue
		}
		if c := p.spec(r.container); c != nil {
			for _, n := range c.Networks {
				if n.Network == dockerNet && n.IPv4 != "" {
					used[n.IPv4] = true
				}
			}
		}
	}
	wants := slices.Clone(np.statics)
	slices.SortFunc(wants, func(a, b staticWant) int { return strings.Compare(a.container, b.container) })
	assign := func(w staticWant, ip string) {
		used[ip] = true
		c := p.spec(w.container)
		for i := range c.Networks {
			if c.Networks[i].Network == dockerNet {
				c.Networks[i].IPv4 = ip
			}
		}
	}
	var rest []staticWant
	for _, w := range wants {
		pin, ok := p.opts.Pins.Addresses[AddressKey(w.container, dockerNet)]
		if a, err := netip.ParseAddr(pin); ok && err == nil && block.Contains(a) && !used[pin] {
			assign(w, pin)
			continue
		}
		rest = append(rest, w)
	}
	id := np.env.Name + "/" + np.net.Name
	for _, w := range rest {
		start := hash64("static\x00"+id+"\x00"+w.instance) % size
		found := false
		for i := uint64(0); i < size; i++ {
			if ip := addr((start + i) % size); !used[ip] {
				assign(w, ip)
				found = true
				break
			}
		}
		if !found {
			p.problem(np.env.Source, "environment %q: network %q: %d instances want a static address but its static block %s holds %d (use a larger subnet or a shorter hostPrefix)",
				np.env.Name, np.net.Name, len(wants), block, size-1)
			return
		}
	}
}

// refContext is the instance a placement reference is read for.
type refContext struct {
	env, group, instance string
	host                 *hostRef
	src                  schema.Source
}

// fillReferences replaces placement references (schema.PlacementRef) in
// every container's environment values and file contents.
func (p *placer) fillReferences() {
	seen := map[string]bool{}
	for _, h := range p.hosts {
		for i := range h.out.Containers {
			c := &h.out.Containers[i]
			if !hasRefs(c) {
				continue
			}
			l := c.Labels
			ctx := refContext{env: l[drivers.LabelEnv], group: l[drivers.LabelGroup], instance: l[drivers.LabelInstance], host: h, src: p.envSrc[l[drivers.LabelEnv]]}
			for j, kv := range c.Env {
				c.Env[j] = p.fill(kv, ctx, seen)
			}
			for j := range c.Files {
				c.Files[j].Content = p.fill(c.Files[j].Content, ctx, seen)
			}
		}
	}
}

// hasRefs reports whether c's environment or files may hold a placement
// reference (most containers have none).
func hasRefs(c *drivers.ContainerSpec) bool {
	for _, kv := range c.Env {
		if strings.Contains(kv, refPrefix) {
			return true
		}
	}
	for _, f := range c.Files {
		if strings.Contains(f.Content, refPrefix) {
			return true
		}
	}
	return false
}

// refPrefix starts every placement reference (schema.PlacementRef).
const refPrefix = "${rensei:"

// fill replaces the placement references in text for ctx; a reference
// that cannot be filled is a problem (reported once) and left as it is.
func (p *placer) fill(text string, ctx refContext, seen map[string]bool) string {
	if !strings.Contains(text, refPrefix) {
		return text
	}
	return schema.PlacementRef.ReplaceAllStringFunc(text, func(ref string) string {
		v, err := p.resolve(ref, ctx)
		if err != nil {
			msg := fmt.Sprintf("environment %q: group %q: %s: %v", ctx.env, ctx.group, ref, err)
			if !seen[msg] {
				seen[msg] = true
				p.problem(ctx.src, "%s", msg)
			}
			return ref
		}
		return v
	})
}

// resolve fills in one placement reference.
func (p *placer) resolve(ref string, ctx refContext) (string, error) {
	m := schema.PlacementRef.FindStringSubmatch(ref)
	switch {
	case m[1] == "env":
		return ctx.env, nil
	case m[1] == "group":
		return ctx.group, nil
	case m[1] == "instance":
		return ctx.instance, nil
	case m[1] == "site":
		return ctx.host.site, nil
	case m[1] == "host":
		return ctx.host.spec.Name, nil
	case strings.HasPrefix(m[1], "address:"):
		c, err := p.target(ctx.env, m[2], m[3])
		if err != nil {
			return "", err
		}
		var found []string
		for _, n := range c.Networks {
			if n.IPv4 != "" && (m[4] == "" || n.Network == DockerNetwork(ctx.env, m[4])) {
				found = append(found, n.IPv4)
			}
		}
		switch {
		case len(found) == 1:
			return found[0], nil
		case len(found) == 0 && m[4] != "":
			return "", fmt.Errorf("%s/%s has no static address on network %q (attach it with static: true or an address)", m[2], m[3], m[4])
		case len(found) == 0:
			return "", fmt.Errorf("%s/%s has no static address (attach it with static: true or an address)", m[2], m[3])
		}
		return "", fmt.Errorf("%s/%s has static addresses on %d networks: name one (%s/%s/NETWORK)", m[2], m[3], len(found), m[2], m[3])
	case strings.HasPrefix(m[1], "publish:"):
		c, err := p.target(ctx.env, m[5], m[6])
		if err != nil {
			return "", err
		}
		port, _ := strconv.Atoi(m[7])
		for _, b := range c.Ports {
			if b.Container == port {
				if b.Host == 0 {
					return "", fmt.Errorf("%s/%s publishes port %d on a random host port: give it one", m[5], m[6], port)
				}
				return b.HostIP + ":" + strconv.Itoa(b.Host), nil
			}
		}
		return "", fmt.Errorf("%s/%s does not publish port %d", m[5], m[6], port)
	}
	return "", fmt.Errorf("unknown reference")
}

// target is the container of instance inst of group in env.
func (p *placer) target(env, group, inst string) (*drivers.ContainerSpec, error) {
	r, ok := p.instances[PinKey(env, group, inst)]
	if !ok {
		return nil, fmt.Errorf("no instance %q of group %q is placed", inst, group)
	}
	return p.spec(r.container), nil
}

// access lists how each member reaches its instance, for the environments
// that say (schema.Access).
func (p *placer) access() {
	seen := map[string]bool{}
	for i := range p.topo.Environments {
		e := &p.topo.Environments[i]
		if e.Access == nil {
			continue
		}
		idx := slices.IndexFunc(e.Groups, func(g schema.Group) bool { return g.Name == e.Access.Group })
		if idx < 0 {
			p.problem(e.Source, "environment %q: access: no group %q", e.Name, e.Access.Group)
			continue
		}
		g := &e.Groups[idx]
		for _, inst := range g.Instances() {
			r, ok := p.instances[PinKey(e.Name, g.Name, inst)]
			if !ok {
				continue // not active, or not placed (reported)
			}
			ctx := refContext{env: e.Name, group: g.Name, instance: inst, host: r.host, src: e.Source}
			p.out.Access = append(p.out.Access, AccessRow{
				Env: e.Name, Group: g.Name, Instance: inst, Container: r.container,
				Site: r.host.site, Host: r.host.key,
				URL: p.fill(e.Access.URL, ctx, seen), Token: p.fill(e.Access.Token, ctx, seen),
			})
		}
	}
}
