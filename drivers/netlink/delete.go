package netlink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/rensei-dev/rensei/drivers"
)

// Delete removes an owned device. A device that is already gone is not an
// error; one without Rensei's alias is drivers.ErrNotOwned and is not touched.
// Each deletion costs the kernel one network synchronisation (about 16 ms);
// use DeleteMany for bulk teardown.
func (t *Tunnels) Delete(ctx context.Context, name string) error {
	link, err := retryValue(ctx, func() (vnl.Link, error) { return t.linkByName(name) })
	switch {
	case errors.Is(err, drivers.ErrNotFound):
		return nil
	case err != nil:
		return t.errorf(name, "get", err)
	case !ours(link, t.Scope):
		return t.errorf(name, "delete", fmt.Errorf("%w: alias %q", drivers.ErrNotOwned, link.Attrs().Alias))
	}
	return t.del(ctx, link)
}

func (t *Tunnels) del(ctx context.Context, link vnl.Link) error {
	name := link.Attrs().Name
	err := retry(ctx, func() error { return t.h.LinkDel(link) })
	if err != nil && !errors.Is(notFound(err), drivers.ErrNotFound) {
		return t.errorf(name, "delete", err)
	}
	t.log.Info("deleted vxlan", "name", name, "action", "delete")
	return nil
}

// DeleteMany removes the owned devices among names in one kernel batch:
// it tags exactly those devices with a fresh random link group (IFLA_GROUP),
// checks in a second dump that the group holds those devices and nothing
// else, and then deletes the group with one RTM_DELLINK, which the kernel
// unregisters together, paying the network synchronisation once instead of
// once per device (what `ip link del group N` does).
//
// Names that do not exist are skipped; names of devices Rensei does not own
// are reported as drivers.ErrNotOwned (joined) while the owned ones are still
// deleted. When the group check fails the devices are deleted one by one.
func (t *Tunnels) DeleteMany(ctx context.Context, names []string) error {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	links, err := retryValue(ctx, t.h.LinkList)
	if err != nil {
		return fmt.Errorf("host %s: list links: %w", t.host, err)
	}
	var errs []error
	var targets []vnl.Link
	used := map[uint32]bool{}
	for _, l := range links {
		a := l.Attrs()
		used[a.Group] = true
		if !want[a.Name] {
			continue
		}
		if !ours(l, t.Scope) {
			errs = append(errs, t.errorf(a.Name, "delete", fmt.Errorf("%w: alias %q", drivers.ErrNotOwned, a.Alias)))
			continue
		}
		targets = append(targets, l)
	}
	switch len(targets) {
	case 0:
		return errors.Join(errs...)
	case 1:
		return errors.Join(append(errs, t.del(ctx, targets[0]))...)
	}
	if err := t.deleteGroup(ctx, targets, freeGroup(used)); err != nil {
		t.log.Warn("group delete failed, deleting one by one", "action", "delete", "count", len(targets), "err", err)
		for _, l := range targets {
			if err := t.Delete(ctx, l.Attrs().Name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// freeGroup picks a random link group that no link is in. Group 0 is the
// default; numbers from the upper half are practically never chosen by
// people or other tools (iproute2's `ip link set group` cannot even set them).
func freeGroup(used map[uint32]bool) uint32 {
	for {
		g := 1<<31 + rand.Uint32N(1<<31-1)
		if !used[g] && g != ownedGroup {
			return g
		}
	}
}

// deleteGroup moves targets into group and deletes that group. It returns
// an error, having deleted nothing, when the group turns out to hold
// anything but the owned targets.
func (t *Tunnels) deleteGroup(ctx context.Context, targets []vnl.Link, group uint32) error {
	for _, l := range targets {
		err := retry(ctx, func() error { return t.h.LinkSetGroup(l, int(group)) })
		if err != nil && !errors.Is(notFound(err), drivers.ErrNotFound) {
			return fmt.Errorf("vxlan %s: set group %d: %w", l.Attrs().Name, group, err)
		}
	}
	links, err := retryValue(ctx, t.h.LinkList)
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	wantIdx := map[int]string{}
	for _, l := range targets {
		wantIdx[l.Attrs().Index] = l.Attrs().Name
	}
	var members []string
	for _, l := range links {
		a := l.Attrs()
		if a.Group != group {
			continue
		}
		if wantIdx[a.Index] != a.Name || !owned(l) {
			return fmt.Errorf("group %d holds %s (alias %q), which is not to be deleted", group, a.Name, a.Alias)
		}
		members = append(members, a.Name)
	}
	if len(members) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{
			Len:   unix.SizeofNlMsghdr,
			Type:  unix.RTM_DELLINK,
			Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK,
		},
		Sockets: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: t.raw},
	}
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC)) // index 0: select by group
	req.AddData(nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(group)))
	if err := retry(ctx, func() error { _, err := req.Execute(unix.NETLINK_ROUTE, 0); return err }); err != nil {
		return fmt.Errorf("delete group %d: %w", group, err)
	}
	slices.Sort(members)
	t.log.Info("deleted vxlans", "action", "delete", "count", len(members), "group", group)
	for _, n := range members {
		t.log.Debug("deleted vxlan", "name", n, "action", "delete")
	}
	return nil
}
