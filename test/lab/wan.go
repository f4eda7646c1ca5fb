package lab

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns` and the netns package keep named namespaces.
const netnsDir = "/run/netns"

// wanNetns is the namespace that holds the WAN bridge and the WAN ends of
// the sites' veth pairs. It is not the root namespace: where the host runs
// Docker, br_netfilter (net.bridge.bridge-nf-call-iptables=1) sends bridged
// frames through the root namespace's iptables FORWARD chain, whose policy
// Docker sets to DROP, so sites on a root-namespace bridge cannot reach each
// other (verified on this machine). A namespace of its own has empty tables,
// and the lab changes nothing on the host.
const wanNetns = netnsPrefix + "wan"

var wanPath = filepath.Join(netnsDir, wanNetns)

// ensureBridge creates the WAN namespace and the bridge inside it unless
// they exist, and sets the bridge up. A link of that name that is no bridge
// is an error.
func ensureBridge(log *slog.Logger) error {
	if err := ensureNamedNetns(wanNetns, log); err != nil {
		return fmt.Errorf("wan: %w", err)
	}
	w, closeW, err := openNamedNetns(wanNetns)
	if err != nil {
		return fmt.Errorf("wan: %w", err)
	}
	defer closeW()
	l, err := w.LinkByName(WANBridge)
	if err == nil {
		if l.Type() != "bridge" {
			return fmt.Errorf("wan %s: exists as %s, not a bridge", WANBridge, l.Type())
		}
	} else {
		if !isNotFound(err) {
			return fmt.Errorf("wan %s: %w", WANBridge, err)
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: WANBridge}}
		if err := w.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("wan %s: add: %w", WANBridge, err)
		}
		if l, err = w.LinkByName(WANBridge); err != nil {
			return fmt.Errorf("wan %s: %w", WANBridge, err)
		}
		log.Info("bridge created", "action", "create", "name", WANBridge)
	}
	if err := w.LinkSetUp(l); err != nil {
		return fmt.Errorf("wan %s: set up: %w", WANBridge, err)
	}
	return nil
}

// deleteBridge removes the WAN bridge and its namespace (which ends every
// veth left in it); already gone is not an error.
func deleteBridge() error {
	if live, _ := isNetns(wanPath); live {
		w, closeW, err := openNamedNetns(wanNetns)
		if err != nil {
			return fmt.Errorf("wan: %w", err)
		}
		defer closeW()
		if l, err := w.LinkByName(WANBridge); err == nil {
			if err := w.LinkDel(l); err != nil {
				return fmt.Errorf("wan %s: delete: %w", WANBridge, err)
			}
		}
	}
	if err := deleteNamedNetns(wanNetns); err != nil {
		return fmt.Errorf("wan: %w", err)
	}
	// The first recipe (DESIGN.md) put the bridge and the WAN ends in the
	// root namespace under the same reserved names; remove those too.
	for _, name := range append(linkNames("", vethPrefix), WANBridge) {
		if l, ok := strings.CutPrefix(name, vethPrefix); ok && (len(l) != 1 || l[0] < 'a' || l[0] > 'z') {
			continue
		}
		l, err := netlink.LinkByName(name)
		if err != nil || (l.Type() != "bridge" && l.Type() != "veth") || (name == WANBridge) != (l.Type() == "bridge") {
			continue
		}
		if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
			return fmt.Errorf("wan: root namespace %s: delete: %w", name, err)
		}
	}
	return nil
}

// ensureNetns creates the site's namespace unless a live one exists.
func ensureNetns(s site) error {
	if err := ensureNamedNetns(s.netns, s.log); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

// ensureNamedNetns creates a named namespace unless a live one exists. A
// stale name (a plain file left where the bind mount was) is replaced.
func ensureNamedNetns(name string, log *slog.Logger) error {
	path := filepath.Join(netnsDir, name)
	switch live, err := isNetns(path); {
	case err != nil:
		return fmt.Errorf("netns %s: %w", name, err)
	case live:
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netns %s: remove stale: %w", name, err)
	}
	// netns.NewNamed moves the calling thread into the new namespace. Do it
	// on a locked thread that is never unlocked: the runtime then ends the
	// thread with the goroutine, so no other goroutine runs in the wrong
	// namespace, whatever happens.
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := netns.NewNamed(name)
		if err == nil {
			ns.Close()
		}
		done <- err
	}()
	if err := <-done; err != nil {
		return fmt.Errorf("netns %s: create: %w", name, err)
	}
	log.Info("netns created", "action", "create", "name", name)
	return nil
}

// isNetns reports whether path is a mounted network namespace.
func isNetns(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); errors.Is(err, unix.ENOENT) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return st.Type == unix.NSFS_MAGIC, nil
}

// deleteNetns removes the site's namespace name.
func deleteNetns(s site) error {
	if err := deleteNamedNetns(s.netns); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

// deleteNamedNetns unmounts and removes a namespace name; the namespace
// itself ends with the last process in it. Already gone is not an error.
func deleteNamedNetns(name string) error {
	path := filepath.Join(netnsDir, name)
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// A name may have been mounted more than once (two racing creators).
	for range 4 {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			break
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	return nil
}

// openNetns returns a netlink handle inside the site's namespace.
func openNetns(s site) (*netlink.Handle, func(), error) {
	h, closeNs, err := openNamedNetns(s.netns)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return h, closeNs, nil
}

// openNamedNetns returns a netlink handle inside a named namespace.
func openNamedNetns(name string) (*netlink.Handle, func(), error) {
	ns, err := netns.GetFromPath(filepath.Join(netnsDir, name))
	if err != nil {
		return nil, nil, fmt.Errorf("netns %s: %w", name, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, nil, fmt.Errorf("netns %s: %w", name, err)
	}
	return h, func() { h.Close(); ns.Close() }, nil
}

// ensureVeth makes the site's veth pair: the WAN end (s.veth, in the WAN
// namespace) enslaved to the WAN bridge and up; eth0 in the site namespace
// up with the underlay address; lo up. A half pair (one end missing or the
// wrong kind) is deleted and made again.
func ensureVeth(s site) error {
	h, closeNs, err := openNetns(s)
	if err != nil {
		return err
	}
	defer closeNs()
	w, closeW, err := openNamedNetns(wanNetns)
	if err != nil {
		return fmt.Errorf("%s: wan: %w", s.name, err)
	}
	defer closeW()
	outer, outerErr := w.LinkByName(s.veth)
	inner, innerErr := h.LinkByName("eth0")
	whole := outerErr == nil && innerErr == nil && outer.Type() == "veth" && inner.Type() == "veth"
	if !whole {
		// Both namespaces are the lab's own, so whatever is in them is too.
		if outerErr == nil {
			if err := w.LinkDel(outer); err != nil {
				return fmt.Errorf("%s: veth %s: delete half pair: %w", s.name, s.veth, err)
			}
		}
		if innerErr == nil {
			if err := h.LinkDel(inner); err != nil {
				return fmt.Errorf("%s: %s eth0: delete half pair: %w", s.name, s.netns, err)
			}
		}
		ns, err := netns.GetFromPath(s.netnsPath())
		if err != nil {
			return fmt.Errorf("%s: netns %s: %w", s.name, s.netns, err)
		}
		// Created in the WAN namespace with the peer straight inside the
		// site's, so no end ever appears in the root namespace.
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: s.veth},
			PeerName:      "eth0",
			PeerNamespace: netlink.NsFd(int(ns)),
		}
		err = w.LinkAdd(veth)
		ns.Close()
		if err != nil {
			return fmt.Errorf("%s: veth %s: add: %w", s.name, s.veth, err)
		}
		s.log.Info("veth created", "action", "create", "name", s.veth)
		if outer, err = w.LinkByName(s.veth); err != nil {
			return fmt.Errorf("%s: veth %s: %w", s.name, s.veth, err)
		}
		if inner, err = h.LinkByName("eth0"); err != nil {
			return fmt.Errorf("%s: %s eth0: %w", s.name, s.netns, err)
		}
	}
	br, err := w.LinkByName(WANBridge)
	if err != nil {
		return fmt.Errorf("%s: wan %s: %w", s.name, WANBridge, err)
	}
	if outer.Attrs().MasterIndex != br.Attrs().Index {
		if err := w.LinkSetMaster(outer, br); err != nil {
			return fmt.Errorf("%s: veth %s: set master %s: %w", s.name, s.veth, WANBridge, err)
		}
	}
	if err := w.LinkSetUp(outer); err != nil {
		return fmt.Errorf("%s: veth %s: set up: %w", s.name, s.veth, err)
	}
	addr := &netlink.Addr{IPNet: prefixNet(s)}
	if err := h.AddrReplace(inner, addr); err != nil {
		return fmt.Errorf("%s: %s eth0: address %s: %w", s.name, s.netns, s.underlay, err)
	}
	if err := h.LinkSetUp(inner); err != nil {
		return fmt.Errorf("%s: %s eth0: set up: %w", s.name, s.netns, err)
	}
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("%s: %s lo: set up: %w", s.name, s.netns, err)
	}
	return nil
}

// deleteVeth removes the site's veth pair (deleting one end removes both).
// Already gone, or no WAN namespace, is not an error.
func deleteVeth(s site) error {
	if live, _ := isNetns(wanPath); !live {
		return nil
	}
	w, closeW, err := openNamedNetns(wanNetns)
	if err != nil {
		return fmt.Errorf("%s: wan: %w", s.name, err)
	}
	defer closeW()
	l, err := w.LinkByName(s.veth)
	if isNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("%s: veth %s: %w", s.name, s.veth, err)
	}
	if err := w.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("%s: veth %s: delete: %w", s.name, s.veth, err)
	}
	return nil
}

// tunnels lists the rs-vx-* links inside the site's namespace; a missing
// namespace has none.
func tunnels(s site) ([]string, error) {
	if live, _ := isNetns(s.netnsPath()); !live {
		return nil, nil
	}
	h, closeNs, err := openNetns(s)
	if err != nil {
		return nil, err
	}
	defer closeNs()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("%s: netns %s: list links: %w", s.name, s.netns, err)
	}
	var out []string
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "rs-vx-") {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
}

// linkNames lists the links whose name starts with prefix in the named
// namespace, or in the root namespace when ns is "".
func linkNames(ns, prefix string) []string {
	var links []netlink.Link
	var err error
	if ns == "" {
		links, err = netlink.LinkList()
	} else if live, _ := isNetns(filepath.Join(netnsDir, ns)); live {
		h, closeNs, herr := openNamedNetns(ns)
		if herr != nil {
			return nil
		}
		defer closeNs()
		links, err = h.LinkList()
	}
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, prefix) {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// prefixNet is the site's underlay address with its /24 mask.
func prefixNet(s site) *net.IPNet {
	return &net.IPNet{IP: s.underlay.Addr().AsSlice(), Mask: net.CIDRMask(s.underlay.Bits(), 32)}
}
