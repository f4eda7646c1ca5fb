package netlink

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// tbfMajor is the handle major ("rs") of the tbf root qdisc Rensei puts on a
// device; it tells Rensei's rate limit apart from one someone else added.
const tbfMajor = 0x7273

// Token bucket shape: the bucket holds tbfBurstTime worth of traffic but at
// least tbfMinBurst bytes (so full-size and GSO frames pass), and the queue
// holds tbfLatency worth of traffic beyond the bucket.
const (
	tbfBurstDiv   = 50 // 20 ms
	tbfMinBurst   = 64 << 10
	tbfLatencyDiv = 20 // 50 ms
)

// ownedTbf returns the root tbf with Rensei's handle, if q is one.
func ownedTbf(q vnl.Qdisc) (*vnl.Tbf, bool) {
	tbf, ok := q.(*vnl.Tbf)
	if !ok {
		return nil, false
	}
	a := tbf.Attrs()
	return tbf, a.Parent == vnl.HANDLE_ROOT && a.Handle == vnl.MakeHandle(tbfMajor, 0)
}

// ratesByIndex maps device index to the rate of its owned tbf, from a
// namespace-wide qdisc dump.
func ratesByIndex(qs []vnl.Qdisc) map[int]uint64 {
	m := map[int]uint64{}
	for _, q := range qs {
		if tbf, ok := ownedTbf(q); ok {
			m[tbf.Attrs().LinkIndex] = tbf.Rate
		}
	}
	return m
}

func newTbf(index int, rate uint64) *vnl.Tbf {
	burst := max(rate/tbfBurstDiv, tbfMinBurst)
	limit := min(burst+rate/tbfLatencyDiv, 1<<32-1)
	burst = min(burst, 1<<32-1)
	return &vnl.Tbf{
		QdiscAttrs: vnl.QdiscAttrs{
			LinkIndex: index,
			Handle:    vnl.MakeHandle(tbfMajor, 0),
			Parent:    vnl.HANDLE_ROOT,
		},
		Rate:   rate,
		Limit:  uint32(limit),
		Buffer: vnl.Xmittime(rate, uint32(burst)),
	}
}

// syncRate puts Rensei's tbf at the root of the device when rate > 0 (replacing
// whatever root qdisc was there, since the device is Rensei's), and removes
// it when rate is 0. A root qdisc without Rensei's handle is left alone when
// rate is 0. fresh skips the dump for a device that was just created.
func (t *Tunnels) syncRate(ctx context.Context, link vnl.Link, rate uint64, fresh bool) error {
	name := link.Attrs().Name
	var have *vnl.Tbf
	if !fresh {
		var err error
		have, err = retryValue(ctx, func() (*vnl.Tbf, error) { return t.rootTbf(link.Attrs().Index) })
		if err != nil {
			return t.errorf(name, "get root qdisc", err)
		}
	}
	switch {
	case rate == 0 && have == nil:
		return nil
	case rate == 0:
		err := retry(ctx, func() error {
			err := t.h.QdiscDel(have)
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return err
		})
		if err != nil {
			return t.errorf(name, "remove rate limit", err)
		}
		t.log.Info("removed rate limit", "name", name, "action", "delete")
		return nil
	case have != nil && have.Rate == rate:
		return nil
	}
	if err := retry(ctx, func() error { return t.h.QdiscReplace(newTbf(link.Attrs().Index, rate)) }); err != nil {
		return t.errorf(name, fmt.Sprintf("set rate limit %d B/s", rate), err)
	}
	t.log.Info("set rate limit", "name", name, "action", "update", "rate", rate)
	return nil
}

// rootTbf fetches the root qdisc of one device with a single RTM_GETQDISC
// (the library only offers a dump, which walks every device of the
// namespace) and returns it when it is Rensei's tbf, else nil.
func (t *Tunnels) rootTbf(index int) (*vnl.Tbf, error) {
	req := &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{
			Len:  unix.SizeofNlMsghdr,
			Type: unix.RTM_GETQDISC,
			// The kernel answers a qdisc get through its notification path,
			// which sends nothing unless asked to echo (or someone listens).
			Flags: unix.NLM_F_REQUEST | unix.NLM_F_ECHO,
		},
		Sockets: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: t.raw},
	}
	req.AddData(&nl.TcMsg{Family: nl.FAMILY_ALL, Ifindex: int32(index), Parent: vnl.HANDLE_ROOT})
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWQDISC)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) {
		return nil, nil // no root qdisc at all
	}
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if tbf, err := parseTbf(m); err != nil || tbf != nil {
			return tbf, err
		}
	}
	return nil, nil
}

// parseTbf decodes an RTM_NEWQDISC message when it is Rensei's root tbf.
func parseTbf(m []byte) (*vnl.Tbf, error) {
	msg := nl.DeserializeTcMsg(m)
	if msg.Parent != vnl.HANDLE_ROOT || msg.Handle != vnl.MakeHandle(tbfMajor, 0) {
		return nil, nil
	}
	attrs, err := nl.ParseRouteAttr(m[msg.Len():])
	if err != nil {
		return nil, fmt.Errorf("parse qdisc: %w", err)
	}
	tbf := &vnl.Tbf{QdiscAttrs: vnl.QdiscAttrs{LinkIndex: int(msg.Ifindex), Handle: msg.Handle, Parent: msg.Parent}}
	isTbf := false
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.TCA_KIND:
			isTbf = string(bytes.TrimRight(a.Value, "\x00")) == "tbf"
		case unix.TCA_OPTIONS:
			opts, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return nil, fmt.Errorf("parse tbf options: %w", err)
			}
			for _, o := range opts {
				switch o.Attr.Type {
				case nl.TCA_TBF_PARMS:
					q := nl.DeserializeTcTbfQopt(o.Value)
					tbf.Rate, tbf.Limit, tbf.Buffer = uint64(q.Rate.Rate), q.Limit, q.Buffer
				case nl.TCA_TBF_RATE64:
					if len(o.Value) >= 8 {
						tbf.Rate = binary.NativeEndian.Uint64(o.Value)
					}
				}
			}
		}
	}
	if !isTbf {
		return nil, nil
	}
	return tbf, nil
}
