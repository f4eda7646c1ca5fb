package fakeengine

import (
	"fmt"
	"net"
	"net/netip"
)

// pool is the IPv4 address pool of one network, as the engine's default
// IPAM keeps it: the subnet, the block dynamic addresses come from (the
// ip-range, or the whole subnet), the gateway, and the addresses in use.
type pool struct {
	subnet  netip.Prefix
	ipRange netip.Prefix // invalid (zero) means the whole subnet
	gateway netip.Addr
	static  bool                  // the subnet was given by the user
	used    map[netip.Addr]string // address → ID of the container holding it
}

// Contains implements network.NetworkSubnet: static addresses may be
// anywhere in the subnet, not only in the ip-range (dockerd does the same).
func (p *pool) Contains(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && p.subnet.Contains(a.Unmap())
}

// IsStatic implements network.NetworkSubnet.
func (p *pool) IsStatic() bool { return p.static }

// reserved reports whether a is not allocatable: the subnet's network and
// broadcast addresses and the gateway.
func (p *pool) reserved(a netip.Addr) bool {
	return a == p.subnet.Masked().Addr() || a == lastAddr(p.subnet) || a == p.gateway
}

// allocate gives owner the address pref, or with pref invalid the lowest
// free address of the ip-range (the default IPAM is not serial on a local
// network). The errors are dockerd's: 403 "Address already in use", 400 for
// an address outside the subnet, 500 when the range is full.
func (p *pool) allocate(pref netip.Addr, owner, netName, netID string) (netip.Addr, error) {
	if pref.IsValid() {
		if !p.subnet.Contains(pref) {
			return netip.Addr{}, errInvalid("invalid address %s: It does not belong to any of this network's subnets", pref)
		}
		if _, taken := p.used[pref]; taken || p.reserved(pref) {
			return netip.Addr{}, errForbidden("Address already in use")
		}
		p.used[pref] = owner
		return pref, nil
	}
	block := p.ipRange
	if !block.IsValid() {
		block = p.subnet
	}
	last := lastAddr(block)
	for a := block.Masked().Addr(); block.Contains(a); a = a.Next() {
		if _, taken := p.used[a]; !taken && !p.reserved(a) {
			p.used[a] = owner
			return a, nil
		}
		if a == last {
			break
		}
	}
	return netip.Addr{}, errSystem("no available IPv4 addresses on this network's address pools: %s (%s)", netName, netID)
}

// release frees a, if owner holds it.
func (p *pool) release(a netip.Addr, owner string) {
	if p.used[a] == owner {
		delete(p.used, a)
	}
}

// lastAddr is the highest address of prefix (its broadcast address).
func lastAddr(prefix netip.Prefix) netip.Addr {
	b := prefix.Masked().Addr().As4()
	bits := prefix.Bits()
	for i := range 4 {
		hostBits := max(0, min(8, 32-bits-8*(3-i)))
		b[i] |= byte(1<<hostBits - 1)
	}
	return netip.AddrFrom4(b)
}

// overlaps reports whether two prefixes share an address.
func overlaps(a, b netip.Prefix) bool {
	return a.Contains(b.Masked().Addr()) || b.Contains(a.Masked().Addr())
}

// defaultPools are dockerd's default local address pools, in order: the
// /16s of 172.17-31 and the /20s of 192.168.
var defaultPools = func() []netip.Prefix {
	var out []netip.Prefix
	for i := 17; i <= 31; i++ {
		out = append(out, netip.MustParsePrefix(fmt.Sprintf("172.%d.0.0/16", i)))
	}
	for i := 0; i < 256; i += 16 {
		out = append(out, netip.MustParsePrefix(fmt.Sprintf("192.168.%d.0/20", i)))
	}
	return out
}()

// newPool builds the pool of a network being created from its (validated)
// IPAM config, or from the first free default pool when none is given.
// e.mu must be held. The overlap error is the default IPAM's.
func (e *Engine) newPool(subnet, ipRange, gateway string) (*pool, error) {
	p := &pool{used: map[netip.Addr]string{}}
	if subnet == "" {
		for _, cand := range defaultPools {
			if !e.poolOverlaps(cand) {
				p.subnet = cand
				break
			}
		}
		if !p.subnet.IsValid() {
			return nil, errForbidden("all predefined address pools have been fully subnetted")
		}
	} else {
		var err error
		if p.subnet, err = netip.ParsePrefix(subnet); err != nil {
			return nil, errInvalid("invalid subnet %s: invalid CIDR block notation", subnet)
		}
		if !p.subnet.Addr().Is4() {
			return nil, errInvalid("fakeengine: only IPv4 subnets are modelled, not %s", subnet)
		}
		if e.poolOverlaps(p.subnet) {
			return nil, errForbidden("invalid pool request: Pool overlaps with other one on this address space")
		}
		p.static = true
	}
	if ipRange != "" {
		p.ipRange, _ = netip.ParsePrefix(ipRange)
	}
	if gateway != "" {
		p.gateway, _ = netip.ParseAddr(gateway)
	} else {
		p.gateway = p.subnet.Masked().Addr().Next()
	}
	return p, nil
}

// poolOverlaps reports whether prefix overlaps the pool of any network.
func (e *Engine) poolOverlaps(prefix netip.Prefix) bool {
	for _, n := range e.networks {
		if n.pool != nil && overlaps(n.pool.subnet, prefix) {
			return true
		}
	}
	return false
}
