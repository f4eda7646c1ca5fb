package netlink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/rensei-dev/rensei/drivers"
)

// Probe checks what the tunnels of this host need: that the namespace
// answers (Reachable), that the underlay address is configured on one of its
// interfaces (UnderlayFound), and that the kernel can make VXLAN devices
// (VXLAN). DockerVersion is left for the Docker driver to fill. Problems are
// reported in Error (without the host's name: whoever shows it names the
// host), never returned.
func (t *Tunnels) Probe(ctx context.Context, underlay string) drivers.HostStatus {
	var st drivers.HostStatus
	var errs []error
	addrs, err := retryValue(ctx, func() ([]vnl.Addr, error) { return t.h.AddrList(nil, vnl.FAMILY_ALL) })
	if err != nil {
		st.Error = fmt.Sprintf("list addresses: %v", err)
		return st
	}
	st.Reachable = true
	ip := net.ParseIP(underlay)
	if ip == nil {
		errs = append(errs, fmt.Errorf("invalid underlay address %q", underlay))
	}
	for _, a := range addrs {
		if ip != nil && a.IP.Equal(ip) {
			st.UnderlayFound = true
		}
	}
	if ip != nil && !st.UnderlayFound {
		errs = append(errs, fmt.Errorf("underlay address %s not configured", underlay))
	}
	if st.VXLAN, err = t.vxlanAvailable(ctx, "/sys/module/vxlan"); err != nil {
		errs = append(errs, err)
	}
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	st.Error = strings.Join(msgs, "; ")
	return st
}

// vxlanAvailable answers from module (/sys/module/vxlan) when the module is loaded;
// otherwise (built-in, or not loaded yet) it creates and deletes a
// throwaway, down device, which also makes the kernel load the module.
func (t *Tunnels) vxlanAvailable(ctx context.Context, module string) (bool, error) {
	if _, err := os.Stat(module); err == nil {
		return true, nil
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	attrs := vnl.NewLinkAttrs()
	attrs.Name = "rs-probe-" + hex.EncodeToString(b[:3])
	// VNI 2^24-1 on an unusual port keeps clear of every real device's (vni, port).
	vx := &vnl.Vxlan{LinkAttrs: attrs, VxlanId: 1<<24 - 1, Port: 4788}
	err := retry(ctx, func() error { return t.h.LinkAdd(vx) })
	switch {
	case errors.Is(err, unix.EEXIST):
		return true, nil
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOENT):
		return false, fmt.Errorf("vxlan not supported by the kernel: %w", err)
	case err != nil:
		return false, fmt.Errorf("vxlan probe device: %w", err)
	}
	if err := t.h.LinkDel(vx); err != nil {
		return true, fmt.Errorf("vxlan probe device %s: delete: %w", attrs.Name, err)
	}
	return true, nil
}
