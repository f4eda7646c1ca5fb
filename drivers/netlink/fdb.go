package netlink

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"slices"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// fdbEntry is the head-end replication entry that sends broadcast, unknown
// unicast and multicast frames of the device to one peer:
// `bridge fdb append 00:00:00:00:00:00 dev <dev> dst <peer> self permanent`.
func fdbEntry(index int, peer net.IP) *vnl.Neigh {
	return &vnl.Neigh{
		LinkIndex:    index,
		Family:       unix.AF_BRIDGE,
		State:        vnl.NUD_PERMANENT,
		Flags:        vnl.NTF_SELF,
		IP:           peer,
		HardwareAddr: zeroMAC,
	}
}

// isPeerEntry reports whether an AF_BRIDGE neighbour is a head-end
// replication entry of a VXLAN device (all-zero MAC with a destination).
func isPeerEntry(n vnl.Neigh) bool {
	return n.Family == unix.AF_BRIDGE && n.Flags&vnl.NTF_SELF != 0 &&
		n.IP != nil && isZeroMAC(n.HardwareAddr)
}

// peersByIndex groups the head-end entries of a namespace-wide FDB dump by
// device index; each list is sorted by address string.
func peersByIndex(neighs []vnl.Neigh) map[int][]string {
	m := map[int][]string{}
	for _, n := range neighs {
		if isPeerEntry(n) {
			m[n.LinkIndex] = append(m[n.LinkIndex], n.IP.String())
		}
	}
	for _, p := range m {
		slices.Sort(p)
	}
	return m
}

// syncFDB makes the device's head-end entries exactly want: missing peers are
// appended first, stale ones removed after. fresh skips the dump for a device
// that was just created and so has none.
func (t *Tunnels) syncFDB(ctx context.Context, link vnl.Link, want []net.IP, fresh bool) error {
	name := link.Attrs().Name
	index := link.Attrs().Index
	have := map[string]net.IP{}
	if !fresh {
		neighs, err := retryValue(ctx, func() ([]vnl.Neigh, error) { return t.fdbOf(index) })
		if err != nil {
			return t.errorf(name, "list fdb", err)
		}
		for _, n := range neighs {
			if n.LinkIndex == index && isPeerEntry(n) {
				have[n.IP.String()] = n.IP
			}
		}
	}
	wanted := map[string]bool{}
	var errs []error
	for _, ip := range want {
		wanted[ip.String()] = true
		if _, ok := have[ip.String()]; ok {
			continue
		}
		err := retry(ctx, func() error {
			err := t.h.NeighAppend(fdbEntry(index, ip))
			if errors.Is(err, unix.EEXIST) {
				return nil
			}
			return err
		})
		if err != nil {
			errs = append(errs, t.errorf(name, "append fdb dst "+ip.String(), err))
			continue
		}
		t.log.Info("added fdb entry", "name", name, "action", "create", "peer", ip.String())
	}
	for key, ip := range have {
		if wanted[key] {
			continue
		}
		err := retry(ctx, func() error {
			err := t.h.NeighDel(fdbEntry(index, ip))
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return err
		})
		if err != nil {
			errs = append(errs, t.errorf(name, "delete fdb dst "+key, err))
			continue
		}
		t.log.Info("removed fdb entry", "name", name, "action", "delete", "peer", key)
	}
	return errors.Join(errs...)
}

// fdbOf dumps the FDB entries of one device, or of the whole namespace
// when index is 0. The library's NeighList sends
// its header's padding bytes uninitialised, which a strict-checking kernel
// rejects, and without strict checking the kernel ignores the ifindex and
// walks every device; so the request is built here and sent on the strict
// socket, and the kernel skips the other devices.
func (t *Tunnels) fdbOf(index int) ([]vnl.Neigh, error) {
	req := &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{
			Len:   unix.SizeofNlMsghdr,
			Type:  unix.RTM_GETNEIGH,
			Flags: unix.NLM_F_REQUEST | unix.NLM_F_DUMP,
		},
		Sockets: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: t.raw},
	}
	hdr := make(ndmsg, unix.SizeofNdMsg)
	hdr[0] = unix.AF_BRIDGE
	binary.NativeEndian.PutUint32(hdr[4:8], uint32(index))
	req.AddData(hdr)
	var out []vnl.Neigh
	err := req.ExecuteIter(unix.NETLINK_ROUTE, unix.RTM_NEWNEIGH, func(m []byte) bool {
		if n, err := vnl.NeighDeserialize(m); err == nil && (index == 0 || n.LinkIndex == index) {
			out = append(out, *n)
		}
		return true
	})
	return out, err
}

// ndmsg is a serialised struct ndmsg with every padding byte zero.
type ndmsg []byte

func (m ndmsg) Len() int          { return len(m) }
func (m ndmsg) Serialize() []byte { return m }
