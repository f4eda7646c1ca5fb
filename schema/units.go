package schema

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ParseBytes parses a memory amount: a plain number of bytes, or a number
// with a binary suffix (Ki, Mi, Gi, Ti; Docker's k, m, g, t mean the same)
// or a decimal one (KB, MB, GB, TB).
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
		{"B", 1}, {"b", 1},
	}
	mult := 1.0
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("not an amount of memory (want e.g. 512Mi, 2Gi)")
	}
	return int64(v * mult), nil
}

// ParseRate parses a bandwidth in tc's notation (kbit, mbit, gbit: bits per
// second; kbps, mbps, gbps: bytes per second) and returns bytes per second.
func ParseRate(s string) (uint64, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   float64
	}{
		{"kbit", 1e3 / 8}, {"mbit", 1e6 / 8}, {"gbit", 1e9 / 8}, {"bit", 1.0 / 8},
		{"kbps", 1e3}, {"mbps", 1e6}, {"gbps", 1e9}, {"bps", 1},
	}
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil || v <= 0 {
				break
			}
			return uint64(v * u.mult), nil
		}
	}
	return 0, fmt.Errorf("not a bandwidth (want e.g. 100mbit, 1gbit)")
}

// ParseTime parses a window bound: RFC 3339, or a date meaning midnight UTC.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("not a time (want RFC 3339 or YYYY-MM-DD)")
}

// Bounds returns the window's ends; a zero time means unbounded on that side.
func (w *Window) Bounds() (from, until time.Time, err error) {
	if w == nil {
		return
	}
	if w.From != "" {
		if from, err = ParseTime(w.From); err != nil {
			return
		}
	}
	if w.Until != "" {
		until, err = ParseTime(w.Until)
	}
	return
}

// Blocks splits a network's subnet into the static block (the first one,
// kept for static addresses) and the per-host blocks Rensei hands out.
func (n Network) Blocks() (static netip.Prefix, hosts []netip.Prefix, err error) {
	subnet, err := netip.ParsePrefix(n.Subnet)
	if err != nil || !subnet.Addr().Is4() {
		return static, nil, fmt.Errorf("subnet %q is not an IPv4 CIDR", n.Subnet)
	}
	if subnet.Masked() != subnet {
		return static, nil, fmt.Errorf("subnet %q has host bits set (did you mean %s?)", n.Subnet, subnet.Masked())
	}
	bits := n.HostPrefix
	if bits == 0 {
		bits = subnet.Bits() + 3
	}
	if bits <= subnet.Bits() || bits > 29 {
		return static, nil, fmt.Errorf("hostPrefix /%d must be longer than the subnet's /%d and at most /29", bits, subnet.Bits())
	}
	if bits-subnet.Bits() > 12 {
		return static, nil, fmt.Errorf("hostPrefix /%d splits %s into more than %d blocks; use a shorter hostPrefix", bits, subnet, MaxHostBlocks)
	}
	count := 1 << (bits - subnet.Bits())
	base := subnet.Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	size := uint32(1) << (32 - bits)
	blocks := make([]netip.Prefix, count)
	for i := range blocks {
		a := start + uint32(i)*size
		blocks[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), bits)
	}
	return blocks[0], blocks[1:], nil
}
