package netlink

import (
	"context"
	"errors"
	"fmt"
	"net"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/rensei-dev/rensei/drivers"
)

// maxIfName is IFNAMSIZ minus the terminating NUL.
const maxIfName = 15

// Ensure makes the VXLAN device spec.Name exist with the spec's properties:
// VNI, local address, UDP port, learning off, MTU, alias "rensei:<owner>",
// enslaved to spec.Bridge and up, with exactly one all-zero FDB entry per
// peer and a tbf root qdisc when spec.Rate > 0.
//
// Mutable properties (MTU, master, up, alias owner, FDB, rate) are corrected
// in place; a device whose VNI, local address, port or learning differ is
// deleted and recreated. A missing bridge is drivers.ErrNotFound; a device of
// that name without Rensei's alias is drivers.ErrNotOwned and is not touched.
// Idempotent: a second call with the same spec sends no change to the kernel.
func (t *Tunnels) Ensure(ctx context.Context, spec drivers.TunnelSpec) error {
	want, err := parseSpec(spec)
	if err != nil {
		return fmt.Errorf("host %s: vxlan %s: %w", t.host, spec.Name, err)
	}
	br, err := retryValue(ctx, func() (vnl.Link, error) { return t.linkByName(spec.Bridge) })
	if err != nil {
		return t.errorf(spec.Name, "bridge "+spec.Bridge, err)
	}
	link, err := retryValue(ctx, func() (vnl.Link, error) { return t.linkByName(spec.Name) })
	fresh := false
	switch {
	case errors.Is(err, drivers.ErrNotFound):
		if link, err = t.create(ctx, want, br); err != nil {
			return err
		}
		fresh = true
	case err != nil:
		return t.errorf(spec.Name, "get", err)
	case !ours(link, ownerScope(spec.Owner)):
		return t.errorf(spec.Name, "ensure", fmt.Errorf("%w: alias %q", drivers.ErrNotOwned, link.Attrs().Alias))
	default:
		if reason := immutableDiff(link, want); reason != "" {
			t.log.Info("replacing vxlan", "name", spec.Name, "action", "replace", "reason", reason)
			if err := retry(ctx, func() error { return t.h.LinkDel(link) }); err != nil && !errors.Is(notFound(err), drivers.ErrNotFound) {
				return t.errorf(spec.Name, "delete for replace ("+reason+")", err)
			}
			if link, err = t.create(ctx, want, br); err != nil {
				return err
			}
			fresh = true
		} else if err := t.correct(ctx, link, want, br); err != nil {
			return err
		}
	}
	if err := t.syncFDB(ctx, link, want.peers, fresh); err != nil {
		return err
	}
	return t.syncRate(ctx, link, want.rate, fresh)
}

// desired is a TunnelSpec parsed and checked.
type desired struct {
	spec  drivers.TunnelSpec
	local net.IP
	peers []net.IP
	alias string
	rate  uint64
}

// parseSpec rejects specs the kernel would refuse or that could never
// converge; such errors are configuration errors and not worth retrying.
func parseSpec(s drivers.TunnelSpec) (desired, error) {
	d := desired{spec: s, alias: drivers.AliasPrefix + s.Owner, rate: s.Rate}
	switch {
	case s.Name == "" || len(s.Name) > maxIfName:
		return d, fmt.Errorf("invalid name %q: want 1..%d bytes", s.Name, maxIfName)
	case s.VNI < 1 || s.VNI > 1<<24-1:
		return d, fmt.Errorf("invalid vni %d: want 1..16777215", s.VNI)
	case s.Port < 1 || s.Port > 65535:
		return d, fmt.Errorf("invalid port %d", s.Port)
	case s.Bridge == "" || len(s.Bridge) > maxIfName:
		return d, fmt.Errorf("invalid bridge name %q", s.Bridge)
	case s.Owner == "":
		return d, errors.New("empty owner")
	case s.MTU < 0 || s.MTU > 65535:
		return d, fmt.Errorf("invalid mtu %d", s.MTU)
	}
	if d.local = net.ParseIP(s.Local); d.local == nil {
		return d, fmt.Errorf("invalid local address %q", s.Local)
	}
	seen := map[string]bool{}
	for _, p := range s.Peers {
		ip := net.ParseIP(p)
		if ip == nil {
			return d, fmt.Errorf("invalid peer address %q", p)
		}
		if ip.Equal(d.local) {
			return d, fmt.Errorf("peer %s is the local address", p)
		}
		if (ip.To4() == nil) != (d.local.To4() == nil) {
			return d, fmt.Errorf("peer %s: address family differs from local %s", p, s.Local)
		}
		if !seen[ip.String()] {
			seen[ip.String()] = true
			d.peers = append(d.peers, ip)
		}
	}
	return d, nil
}

// immutableDiff names the first property that cannot be changed in place,
// or returns "" when the device can be corrected.
func immutableDiff(l vnl.Link, d desired) string {
	vx, ok := l.(*vnl.Vxlan)
	switch {
	case !ok:
		return "type " + l.Type() + " is not vxlan"
	case vx.VxlanId != d.spec.VNI:
		return fmt.Sprintf("vni %d → %d", vx.VxlanId, d.spec.VNI)
	case !vx.SrcAddr.Equal(d.local):
		return fmt.Sprintf("local %v → %v", vx.SrcAddr, d.local)
	case vx.Port != d.spec.Port:
		return fmt.Sprintf("port %d → %d", vx.Port, d.spec.Port)
	case vx.Learning:
		return "learning on"
	case vx.FlowBased:
		return "external (flow based)"
	case vx.Group != nil && !vx.Group.IsUnspecified():
		return fmt.Sprintf("group %v set", vx.Group)
	}
	return ""
}

// create adds the device up, with MTU and ownedGroup in the same
// RTM_NEWLINK, then sets its alias and enslaves it to the bridge.
func (t *Tunnels) create(ctx context.Context, d desired, br vnl.Link) (vnl.Link, error) {
	attrs := vnl.NewLinkAttrs()
	attrs.Name = d.spec.Name
	attrs.Group = ownedGroup
	attrs.MTU = d.spec.MTU
	attrs.Flags = net.FlagUp
	vx := &vnl.Vxlan{
		LinkAttrs: attrs,
		VxlanId:   d.spec.VNI,
		SrcAddr:   d.local,
		Port:      d.spec.Port,
		Learning:  false,
	}
	var link vnl.Link = vx // LinkAdd fills in the index
	err := retry(ctx, func() error { return t.h.LinkAdd(vx) })
	if errors.Is(err, unix.EEXIST) {
		// Created meanwhile: by an earlier attempt whose reply was lost
		// (then it carries ownedGroup), or by someone else.
		var getErr error
		if link, getErr = retryValue(ctx, func() (vnl.Link, error) { return t.linkByName(d.spec.Name) }); getErr != nil {
			// The name is free, so the kernel refused the (vni, port) pair:
			// another device, maybe not Rensei's, already uses it.
			return nil, t.errorf(d.spec.Name, "create", fmt.Errorf("vni %d port %d already used by another device: %w", d.spec.VNI, d.spec.Port, err))
		}
		err = nil
		if !owned(link) {
			return nil, t.errorf(d.spec.Name, "create", fmt.Errorf("%w: created concurrently by someone else", drivers.ErrNotOwned))
		}
	}
	if err != nil {
		return nil, t.errorf(d.spec.Name, "create", err)
	}
	if err := retry(ctx, func() error { return t.h.LinkSetAlias(link, d.alias) }); err != nil {
		return nil, t.errorf(d.spec.Name, "set alias", err)
	}
	link.Attrs().Alias = d.alias
	if err := retry(ctx, func() error { return t.h.LinkSetMasterByIndex(link, br.Attrs().Index) }); err != nil {
		return nil, t.errorf(d.spec.Name, "set master "+br.Attrs().Name, err)
	}
	link.Attrs().MasterIndex = br.Attrs().Index
	t.log.Info("created vxlan", "name", d.spec.Name, "action", "create",
		"vni", d.spec.VNI, "bridge", br.Attrs().Name, "mtu", d.spec.MTU)
	return link, nil
}

// correct fixes the mutable properties of an owned device in place, sending
// only the changes that are needed.
func (t *Tunnels) correct(ctx context.Context, link vnl.Link, d desired, br vnl.Link) error {
	a := link.Attrs()
	name := d.spec.Name
	type fix struct {
		what string
		need bool
		do   func() error
	}
	fixes := []fix{
		{"set alias " + d.alias, a.Alias != d.alias, func() error { return t.h.LinkSetAlias(link, d.alias) }},
		{fmt.Sprintf("set mtu %d → %d", a.MTU, d.spec.MTU), d.spec.MTU > 0 && a.MTU != d.spec.MTU,
			func() error { return t.h.LinkSetMTU(link, d.spec.MTU) }},
		{"set master " + br.Attrs().Name, a.MasterIndex != br.Attrs().Index,
			func() error { return t.h.LinkSetMasterByIndex(link, br.Attrs().Index) }},
		{"set up", a.Flags&net.FlagUp == 0, func() error { return t.h.LinkSetUp(link) }},
	}
	var errs []error
	for _, f := range fixes {
		if !f.need {
			continue
		}
		if err := retry(ctx, f.do); err != nil {
			errs = append(errs, t.errorf(name, f.what, err))
			continue
		}
		t.log.Info("corrected vxlan", "name", name, "action", "update", "change", f.what)
	}
	return errors.Join(errs...)
}

func ownerScope(owner string) string {
	scope, _ := drivers.SplitOwner(owner)
	return scope
}
