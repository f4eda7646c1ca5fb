// Package probe checks the overlay links between hosts from the hosts'
// side. For every overlay network, every host's bridge of the network
// sends ICMP echoes across its VXLAN device to every other host's bridge:
// a small one (is the link up, and its round-trip time) and one of the
// network's full MTU with don't-fragment set (does a full-size packet
// pass, or is there an MTU black hole on the path).
//
// The links follow from the desired state alone (Targets): each host's
// bridge of a network holds that host's own gateway address, so the probes
// need no address or device of their own and change nothing on a host.
// Faults finds links broken in a host's own observed state (a tunnel or an
// FDB entry missing) without sending anything; Run probes; Tracker
// remembers since when each link is in its state and says when it changed.
package probe

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/netlink"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// Link is one direction of an overlay link: from Host's bridge of
// Network to Peer's.
type Link struct {
	Host    string `json:"host"`    // "site/host" that probes
	Peer    string `json:"peer"`    // "site/host" probed
	Network string `json:"network"` // "env/network"
	// Dev is Host's bridge of the network; Tunnel its VXLAN device.
	Dev    string `json:"dev"`
	Tunnel string `json:"tunnel"`
	// Src and Dst are Host's and Peer's gateway addresses on the network.
	Src netip.Addr `json:"src"`
	Dst netip.Addr `json:"dst"`
	// PeerUnderlay is Peer's VXLAN endpoint (its FDB entry on Host).
	PeerUnderlay string `json:"peerUnderlay"`
	MTU          int    `json:"mtu"`
}

// Key identifies the link: "host network peer".
func (l Link) Key() string { return l.Host + " " + l.Network + " " + l.Peer }

// String names the link for people: "site-a/docker → site-b/docker (env/lan)".
func (l Link) String() string { return fmt.Sprintf("%s → %s (%s)", l.Host, l.Peer, l.Network) }

// Targets returns every link of want whose probing host is in hosts (all
// hosts when hosts is nil), sorted by host, network and peer. A network
// spans several hosts exactly when it has a tunnel; each host of such a
// network gets one link to each other host of it.
func Targets(want *place.Desired, hosts func(key string) bool) []Link {
	type member struct {
		key      string
		net      drivers.NetworkSpec
		tunnel   drivers.TunnelSpec
		underlay string
	}
	byNet := map[string][]member{} // Docker network name → hosts with a tunnel for it
	for _, h := range want.Hosts {
		for _, t := range h.Tunnels {
			i := slices.IndexFunc(h.Networks, func(n drivers.NetworkSpec) bool { return n.Bridge == t.Bridge })
			if i < 0 {
				continue
			}
			n := h.Networks[i]
			byNet[n.Name] = append(byNet[n.Name], member{key: h.Key, net: n, tunnel: t, underlay: t.Local})
		}
	}
	var out []Link
	for _, members := range byNet {
		for _, m := range members {
			if hosts != nil && !hosts(m.key) {
				continue
			}
			src, err := netip.ParseAddr(m.net.Gateway)
			if err != nil {
				continue
			}
			for _, p := range members {
				if p.key == m.key {
					continue
				}
				dst, err := netip.ParseAddr(p.net.Gateway)
				if err != nil {
					continue
				}
				out = append(out, Link{
					Host: m.key, Peer: p.key, Network: networkID(m.net),
					Dev: m.net.Bridge, Tunnel: m.tunnel.Name, Src: src, Dst: dst,
					PeerUnderlay: p.underlay, MTU: m.net.MTU,
				})
			}
		}
	}
	slices.SortFunc(out, func(a, b Link) int {
		return cmp.Or(strings.Compare(a.Host, b.Host), strings.Compare(a.Network, b.Network), strings.Compare(a.Peer, b.Peer))
	})
	return out
}

// networkID is "env/network" from a network's labels, else its Docker name.
func networkID(n drivers.NetworkSpec) string {
	env, name := n.Labels[drivers.LabelEnv], n.Labels[drivers.LabelNetwork]
	if env == "" || name == "" {
		return n.Name
	}
	return env + "/" + name
}

// Faults finds the links that cannot work because of the probing host's
// own observed state, without sending anything: its tunnel for the
// network is missing, down, detached from the bridge or of the wrong MTU,
// or has no FDB entry for the peer. The result maps Link.Key to the
// fault in words. Hosts not observed (or whose tunnels are not) have none.
func Faults(links []Link, obs plan.Observed) map[string]string {
	out := map[string]string{}
	for _, l := range links {
		st, ok := obs[l.Host]
		if !ok || st.Err != nil || st.NoTunnels {
			continue
		}
		i := slices.IndexFunc(st.Tunnels, func(t drivers.Tunnel) bool { return t.Name == l.Tunnel })
		if i < 0 {
			out[l.Key()] = "tunnel " + l.Tunnel + " missing"
			continue
		}
		t := st.Tunnels[i]
		var why []string
		if !t.Up {
			why = append(why, "tunnel "+l.Tunnel+" down")
		}
		if t.Bridge != l.Dev {
			why = append(why, "tunnel "+l.Tunnel+" not enslaved to "+l.Dev)
		}
		if l.MTU > 0 && t.MTU != l.MTU {
			why = append(why, fmt.Sprintf("tunnel %s MTU %d, want %d", l.Tunnel, t.MTU, l.MTU))
		}
		if !slices.Contains(t.Peers, l.PeerUnderlay) {
			why = append(why, "FDB entry to "+l.PeerUnderlay+" missing on "+l.Tunnel)
		}
		if len(why) > 0 {
			out[l.Key()] = strings.Join(why, "; ")
		}
	}
	return out
}

// Pinger sends one ICMP echo from a host's namespace; *netlink.Tunnels
// is one.
type Pinger interface {
	Ping(ctx context.Context, e netlink.Echo) (time.Duration, error)
}

var _ Pinger = (*netlink.Tunnels)(nil)
