// Package netlink is the VXLAN tunnel driver: it creates, corrects, lists and
// deletes the VXLAN devices Rensei owns in one network namespace, with their
// head-end replication FDB entries and optional egress rate limit, by talking
// rtnetlink directly (no ip/bridge/tc processes).
//
// A device is Rensei's when its alias starts with drivers.AliasPrefix; any
// other device is never modified or deleted. Devices are also created in the
// link group ownedGroup, which marks one whose alias could not be set yet.
// List costs one link, one FDB and one qdisc dump per call, whatever the
// number of devices; DeleteMany removes many devices in one kernel batch.
package netlink

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/rensei-dev/rensei/drivers"
)

// kind is the value of the slog "kind" key for everything this driver logs.
const kind = "tunnel"

// socketTimeout bounds every netlink request, so a wedged kernel cannot hang
// a reconcile pass forever. The raw socket, which also deletes groups of
// many devices at once (measured: 200 devices in about 130 ms), gets more time.
const (
	socketTimeout    = 10 * time.Second
	rawSocketTimeout = 60 * time.Second
)

// Tunnels manages the VXLAN devices Rensei owns in one network namespace. It
// implements drivers.Tunnels. Its methods are safe for concurrent use, but
// concurrent calls for the same device name race like any two writers.
type Tunnels struct {
	// Scope is the deployment this driver acts for: devices whose owner
	// alias names another scope are never changed or deleted. Set it
	// before use.
	Scope string

	host string
	log  *slog.Logger
	nsFD netns.NsHandle // netns.None() for the namespace of the process
	h    *vnl.Handle
	raw  *nl.SocketHandle // strict rtnetlink socket for requests the library lacks
}

var _ drivers.Tunnels = (*Tunnels)(nil)

// New opens rtnetlink sockets inside the named network namespace
// (/run/netns/<netnsName>), or in the process's own namespace when netnsName
// is empty. The sockets stay bound to that namespace; no goroutine ever
// switches its thread's namespace afterwards. host ("site/host") names the
// host in errors and logs. A namespace that cannot be opened is
// drivers.ErrUnreachable. Call Close when done.
func New(netnsName, host string, log *slog.Logger) (*Tunnels, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ns := netns.None()
	if netnsName != "" {
		var err error
		ns, err = netns.GetFromName(netnsName)
		if err != nil {
			return nil, fmt.Errorf("host %s: netns %s: %w: %w", host, netnsName, drivers.ErrUnreachable, err)
		}
	}
	t := &Tunnels{host: host, log: log.With("host", host, "kind", kind), nsFD: ns}
	if err := t.open(); err != nil {
		t.Close()
		return nil, fmt.Errorf("host %s: netns %q: %w: %w", host, netnsName, drivers.ErrUnreachable, err)
	}
	return t, nil
}

func (t *Tunnels) open() error {
	h, err := vnl.NewHandleAt(t.nsFD, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink handle: %w", err)
	}
	t.h = h
	if err := h.SetSocketTimeout(socketTimeout); err != nil {
		return fmt.Errorf("netlink timeout: %w", err)
	}
	s, err := nl.GetNetlinkSocketAt(t.nsFD, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	t.raw = &nl.SocketHandle{Socket: s}
	// Strict checking makes the kernel honour the ifindex of per-device FDB
	// dumps instead of walking the whole namespace's FDB.
	if err := unix.SetsockoptInt(s.GetFd(), unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1); err != nil {
		return fmt.Errorf("netlink strict check: %w", err)
	}
	tv := unix.NsecToTimeval(rawSocketTimeout.Nanoseconds())
	if err := s.SetSendTimeout(&tv); err != nil {
		return fmt.Errorf("netlink timeout: %w", err)
	}
	if err := s.SetReceiveTimeout(&tv); err != nil {
		return fmt.Errorf("netlink timeout: %w", err)
	}
	return nil
}

// Close releases the sockets and the namespace handle. Channels returned by
// Watch keep working until their context ends.
func (t *Tunnels) Close() error {
	if t.h != nil {
		t.h.Close()
		t.h = nil
	}
	if t.raw != nil {
		t.raw.Close()
		t.raw = nil
	}
	if t.nsFD.IsOpen() {
		err := t.nsFD.Close()
		t.nsFD = netns.None()
		return err
	}
	return nil
}

// ownedGroup is the link group (IFLA_GROUP, "rs" in the high bytes) every
// device Rensei creates carries from birth. The kernel ignores IFLA_IFALIAS in
// RTM_NEWLINK, so the alias can only be set by a second request; a device in
// this group with no alias at all is one whose creation was interrupted
// between the two, and is Rensei's too.
const ownedGroup = 0x72730000

// owned reports whether the link is Rensei's: it carries Rensei's alias, or
// it has no alias and the group it was created in.
func owned(l vnl.Link) bool {
	a := l.Attrs()
	return strings.HasPrefix(a.Alias, drivers.AliasPrefix) || (a.Alias == "" && a.Group == ownedGroup)
}

// scopeOf is the deployment scope of an owned link ("" for a half-made
// one, which any scope may finish or remove).
func scopeOf(l vnl.Link) (scope string, known bool) {
	alias, ok := strings.CutPrefix(l.Attrs().Alias, drivers.AliasPrefix)
	if !ok {
		return "", false
	}
	scope, _ = drivers.SplitOwner(alias)
	return scope, true
}

// ours reports whether the link is Rensei's and of scope (or half-made).
func ours(l vnl.Link, scope string) bool {
	if !owned(l) {
		return false
	}
	s, known := scopeOf(l)
	return !known || s == scope
}

// errorf leads with the host and the device: "host a/h1: vxlan rs-vx-7: set mtu: …".
func (t *Tunnels) errorf(name, action string, err error) error {
	return fmt.Errorf("host %s: vxlan %s: %s: %w", t.host, name, action, err)
}

// notFound maps the library's and the kernel's "no such device" onto
// drivers.ErrNotFound, keeping the original error in the chain.
func notFound(err error) error {
	if err == nil {
		return nil
	}
	var lnf vnl.LinkNotFoundError
	if errors.As(err, &lnf) || errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("%w: %w", drivers.ErrNotFound, err)
	}
	return err
}

// linkByName fetches one link with a single RTM_GETLINK (no dump).
func (t *Tunnels) linkByName(name string) (vnl.Link, error) {
	l, err := t.h.LinkByName(name)
	return l, notFound(err)
}

// zeroMAC is the destination MAC of head-end replication FDB entries.
var zeroMAC = net.HardwareAddr{0, 0, 0, 0, 0, 0}

func isZeroMAC(m net.HardwareAddr) bool {
	if len(m) != 6 {
		return false
	}
	for _, b := range m {
		if b != 0 {
			return false
		}
	}
	return true
}
