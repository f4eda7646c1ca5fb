package place

import (
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/schema"
)

// VXLANPort is the UDP port of every tunnel (IANA's VXLAN port).
const VXLANPort = 4789

// Auto-allocated VNIs stay above this, leaving low numbers to people.
const autoVNIBase = 1 << 12

// netPlacement collects the hosts one overlay network lands on.
type netPlacement struct {
	env    *schema.Environment
	net    *schema.Network
	docker string // DockerNetwork's name for it, shared by every spec
	vni    int
	mtu    int
	static netip.Prefix
	blocks []netip.Prefix
	rate   uint64
	hosts  map[string]*hostRef
	count  map[string]int // dynamic addresses wanted per host
	// candidates are the hosts any attached group may use. Blocks are
	// handed out over them, not over the hosts in use, so a new member
	// landing on a new host moves no other host's block.
	candidates map[string]bool
	// statics are the attachments waiting for a static address.
	statics []staticWant
}

// DefaultNetwork is the network every group without networks joins: a
// bridge of its own environment on each host (Docker allocates its
// subnet), never Docker's default bridge, which every container of the
// engine shares.
const DefaultNetwork = "default"

// DockerNetwork is the Docker network name of an environment's network.
func DockerNetwork(env, network string) string { return env + "_" + network }

// BridgeName is the Linux bridge of the Docker network carrying a VNI.
func BridgeName(vni int) string { return "rs-br-" + strconv.Itoa(vni) }

// TunnelName is the VXLAN device carrying a VNI.
func TunnelName(vni int) string { return "rs-vx-" + strconv.Itoa(vni) }

func (p *placer) network(e *schema.Environment, n *schema.Network) *netPlacement {
	np := &netPlacement{env: e, net: n, docker: DockerNetwork(e.Name, n.Name), vni: n.VNI, mtu: n.MTU, hosts: map[string]*hostRef{}, count: map[string]int{}, candidates: map[string]bool{}}
	if np.mtu == 0 {
		np.mtu = schema.DefaultMTU
	}
	np.static, np.blocks, _ = n.Blocks() // validated
	np.rate = n.Bandwidth.BytesPerSecond
	if np.vni == 0 {
		span := uint64(schema.MaxVNI - autoVNIBase)
		v := autoVNIBase + int(hash64("vni\x00"+e.Name+"/"+n.Name)%span)
		if other := p.vnis[v]; other != "" && p.explicitVNI[v] {
			// Probing past it would make this network's VNI depend on
			// another environment's choice: adding that environment would
			// renumber (and replace) this one.
			p.problem(e.Source, "environment %q: network %q: its automatic vni %d is the explicit vni of %s; give one of them another vni",
				e.Name, n.Name, v, other)
		}
		for p.vnis[v] != "" {
			v++
			if v > schema.MaxVNI {
				v = autoVNIBase
			}
		}
		np.vni = v
		p.vnis[v] = e.Name + "/" + n.Name
	}
	p.networks = append(p.networks, np)
	return np
}

// use records that an instance on h attaches to the network.
func (np *netPlacement) use(h *hostRef, dynamic bool) {
	np.hosts[h.key] = h
	if dynamic {
		np.count[h.key]++
	}
}

// finish hands out per-host blocks and emits the networks and tunnels.
func (p *placer) finishNetwork(np *netPlacement) {
	keys := make([]string, 0, len(np.hosts))
	for k := range np.hosts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	id := np.env.Name + "/" + np.net.Name
	// A host's block depends on its own name (with probing) among the
	// candidate hosts, not on which of them are in use: a member landing on
	// a host new to the network moves no other host's block.
	if len(np.candidates) > len(np.blocks) {
		p.problem(np.env.Source, "environment %q: network %q: its groups may run on %d hosts but subnet %s has %d host blocks; "+
			"set a longer hostPrefix (each host needs its own block) or narrow the placement",
			np.env.Name, np.net.Name, len(np.candidates), np.net.Subnet, len(np.blocks))
		return
	}
	slots := slices.Sorted(maps.Keys(np.candidates))
	taken := make([]bool, len(np.blocks))
	blockOf := map[string]netip.Prefix{}
	for _, k := range slots {
		i := int(hash64("block\x00"+id+"\x00"+k) % uint64(len(np.blocks)))
		for taken[i] {
			i = (i + 1) % len(np.blocks)
		}
		taken[i] = true
		blockOf[k] = np.blocks[i]
	}
	for _, k := range keys {
		block := blockOf[k]
		size := 1 << (32 - block.Bits())
		if want := np.count[k]; want > size-2 {
			p.problem(np.env.Source, "environment %q: network %q: host %s needs %d addresses but its block %s holds %d (use a larger subnet or a shorter hostPrefix)",
				np.env.Name, np.net.Name, k, want, block, size-2)
		}
		h := np.hosts[k]
		spec := drivers.NetworkSpec{
			Name:    np.docker,
			Bridge:  BridgeName(np.vni),
			Subnet:  np.net.Subnet,
			IPRange: block.String(),
			Gateway: block.Addr().Next().String(),
			MTU:     np.mtu,
		}
		spec.Labels = p.labels(map[string]string{
			drivers.LabelEnv:     np.env.Name,
			drivers.LabelNetwork: np.net.Name,
		}, specDigest(spec))
		h.out.Networks = append(h.out.Networks, spec)
	}
	if len(keys) < 2 {
		return // a single-host network needs no tunnel
	}
	for _, k := range keys {
		h := np.hosts[k]
		if h.spec.Underlay == "" {
			p.problem(np.env.Source, "environment %q: network %q spans %d hosts but host %s has no underlay address",
				np.env.Name, np.net.Name, len(keys), k)
			continue
		}
		var peers []string
		for _, o := range keys {
			if o != k && np.hosts[o].spec.Underlay != "" {
				peers = append(peers, np.hosts[o].spec.Underlay)
			}
		}
		sort.Strings(peers)
		h.out.Tunnels = append(h.out.Tunnels, drivers.TunnelSpec{
			Name:   TunnelName(np.vni),
			VNI:    np.vni,
			Local:  h.spec.Underlay,
			Port:   VXLANPort,
			Bridge: BridgeName(np.vni),
			MTU:    np.mtu,
			Peers:  peers,
			Rate:   np.rate,
			Owner:  drivers.TunnelOwner(p.opts.Scope, id),
		})
	}
}

// checkOverlaps reports networks of different environments whose subnets
// overlap on a host they share.
func (p *placer) checkOverlaps(h *hostRef) {
	type net struct {
		env, name string
		subnet    netip.Prefix
	}
	var nets []net
	for _, n := range h.out.Networks {
		if n.Subnet == "" {
			continue // a local default network: Docker picks a free subnet
		}
		nets = append(nets, net{n.Labels[drivers.LabelEnv], n.Labels[drivers.LabelNetwork], netip.MustParsePrefix(n.Subnet)})
	}
	for i := range nets {
		for j := i + 1; j < len(nets); j++ {
			a, b := nets[i], nets[j]
			if a.subnet.Overlaps(b.subnet) {
				p.problem(p.envSrc[b.env], "environment %q: network %q (%s) overlaps network %s/%s (%s) on shared host %s",
					b.env, b.name, b.subnet, a.env, a.name, a.subnet, h.key)
			}
		}
	}
}
