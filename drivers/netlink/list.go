package netlink

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"

	vnl "github.com/vishvananda/netlink"

	"github.com/rensei-dev/rensei/drivers"
)

// List returns the VXLAN devices Rensei owns in the namespace, sorted by
// name, with their bridge, head-end peers (sorted) and rate limit. It costs
// exactly one link dump, one FDB dump and one qdisc dump, however many
// devices there are; devices without Rensei's alias are ignored.
func (t *Tunnels) List(ctx context.Context) ([]drivers.Tunnel, error) {
	links, err := retryValue(ctx, t.h.LinkList)
	if err != nil {
		return nil, fmt.Errorf("host %s: list links: %w", t.host, err)
	}
	names := make(map[int]string, len(links))
	var vxlans []*vnl.Vxlan
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
		if vx, ok := l.(*vnl.Vxlan); ok && owned(l) {
			vxlans = append(vxlans, vx)
		}
	}
	if len(vxlans) == 0 {
		return nil, nil
	}
	neighs, err := retryValue(ctx, func() ([]vnl.Neigh, error) { return t.fdbOf(0) })
	if err != nil {
		return nil, fmt.Errorf("host %s: list fdb: %w", t.host, err)
	}
	qdiscs, err := retryValue(ctx, func() ([]vnl.Qdisc, error) { return t.h.QdiscList(nil) })
	if err != nil {
		return nil, fmt.Errorf("host %s: list qdiscs: %w", t.host, err)
	}
	peers := peersByIndex(neighs)
	rates := ratesByIndex(qdiscs)

	out := make([]drivers.Tunnel, 0, len(vxlans))
	for _, vx := range vxlans {
		a := vx.Attrs()
		out = append(out, drivers.Tunnel{
			Name:   a.Name,
			VNI:    vx.VxlanId,
			Local:  ipString(vx.SrcAddr),
			Port:   vx.Port,
			Bridge: names[a.MasterIndex], // "" when detached (index 0)
			MTU:    a.MTU,
			Up:     a.Flags&net.FlagUp != 0,
			Peers:  peers[a.Index],
			Rate:   rates[a.Index],
			Owner:  strings.TrimPrefix(a.Alias, drivers.AliasPrefix),
		})
	}
	slices.SortFunc(out, func(a, b drivers.Tunnel) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func ipString(ip net.IP) string {
	if ip == nil {
		return ""
	}
	return ip.String()
}
