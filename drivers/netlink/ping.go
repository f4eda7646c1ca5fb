package netlink

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Echo is one ICMP echo request sent from the driver's namespace.
type Echo struct {
	// Dev is the interface the request must leave by (SO_BINDTODEVICE):
	// an overlay's bridge, so the request crosses the bridge and the
	// VXLAN device enslaved to it.
	Dev string
	// Src is the source address, one of Dev's (the bridge's gateway);
	// Dst is the peer's address on the same overlay.
	Src, Dst netip.Addr
	// Size is the IPv4 packet's size in bytes, header included (at least 28).
	Size int
	// DF sets don't-fragment and ignores any path MTU the kernel has
	// cached (IP_PMTUDISC_PROBE, as `ping -M probe`): the packet leaves at
	// Size or not at all, so a hop with a smaller MTU drops it or answers
	// "fragmentation needed", and a restored path is seen at once.
	DF bool
	// Timeout bounds the wait for the reply (default 1 s).
	Timeout time.Duration
}

// ErrNoReply: no echo reply came back within the timeout.
var ErrNoReply = errors.New("no echo reply")

// FragNeededError: a hop (or the VXLAN device itself) answered that the
// packet is larger than the next hop's MTU and may not be fragmented.
type FragNeededError struct {
	MTU int // the next-hop MTU it named (0 when it named none)
	// From is the answer's source: a router on the path, or the
	// destination itself when the local VXLAN device answers for it.
	From netip.Addr
}

func (e *FragNeededError) Error() string {
	return fmt.Sprintf("fragmentation needed: next-hop MTU %d", e.MTU)
}

// UnreachableError: an ICMP destination unreachable other than
// fragmentation needed (no route, host unreachable: ARP got no answer).
type UnreachableError struct {
	Code int
	From netip.Addr
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("destination unreachable (code %d, said by %s)", e.Code, e.From)
}

// ICMP types and the Linux raw socket filter (linux/icmp.h).
const (
	icmpEchoReply   = 0
	icmpUnreachable = 3
	icmpEcho        = 8
	icmpTimeExceed  = 11
	codeFragNeeded  = 4
	solRaw          = 255 // SOL_RAW
	icmpFilter      = 1   // ICMP_FILTER: a mask of the types to drop
)

// Ping sends one ICMP echo request as e says from the driver's namespace
// and waits for its reply. It returns the round-trip time, or ErrNoReply,
// a *FragNeededError, an *UnreachableError, or the socket's error (a
// packet larger than Dev's own MTU with DF set fails at once with
// EMSGSIZE). It changes nothing in the namespace: the raw socket is
// opened for this request and closed after it. Safe for concurrent use;
// concurrent requests tell their replies apart by a random identifier.
func (t *Tunnels) Ping(ctx context.Context, e Echo) (time.Duration, error) {
	if !e.Src.Is4() || !e.Dst.Is4() {
		return 0, fmt.Errorf("host %s: ping %s: IPv4 source and destination needed", t.host, e.Dst)
	}
	if e.Size < 28 || e.Size > 65535 {
		return 0, fmt.Errorf("host %s: ping %s: size %d out of range", t.host, e.Dst, e.Size)
	}
	if e.Timeout <= 0 {
		e.Timeout = time.Second
	}
	conn, err := t.icmpSocket(e)
	if err != nil {
		return 0, fmt.Errorf("host %s: ping %s from %s: %w", t.host, e.Dst, e.Dev, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(e.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return 0, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	const seq = 1
	req := echoRequest(id, seq, e.Size-20)
	start := time.Now()
	if _, err := conn.WriteTo(req, &net.IPAddr{IP: e.Dst.AsSlice()}); err != nil {
		return 0, fmt.Errorf("host %s: ping %s from %s (%d bytes): %w", t.host, e.Dst, e.Dev, e.Size, err)
	}
	buf := make([]byte, 65536)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return 0, ErrNoReply
			}
			return 0, err
		}
		src, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		if mine, err := matchReply(buf[:n], id, seq, e.Dst, src.Unmap()); mine {
			if err != nil {
				return 0, err
			}
			return time.Since(start), nil
		}
	}
}

// matchReply tells whether the ICMP message m (IPv4 header stripped)
// answers the request id/seq to dst: an echo reply from dst, or an error
// quoting the request.
func matchReply(m []byte, id, seq uint16, dst, from netip.Addr) (mine bool, err error) {
	if len(m) < 8 {
		return false, nil
	}
	switch m[0] {
	case icmpEchoReply:
		if from == dst && binary.BigEndian.Uint16(m[4:6]) == id && binary.BigEndian.Uint16(m[6:8]) == seq {
			return true, nil
		}
	case icmpUnreachable, icmpTimeExceed:
		// The quoted request: its IPv4 header, then its first 8 bytes.
		q := m[8:]
		if len(q) < 20 {
			return false, nil
		}
		ihl := int(q[0]&0x0f) * 4
		if len(q) < ihl+8 || q[9] != unix.IPPROTO_ICMP || q[ihl] != icmpEcho ||
			binary.BigEndian.Uint16(q[ihl+4:ihl+6]) != id || binary.BigEndian.Uint16(q[ihl+6:ihl+8]) != seq {
			return false, nil
		}
		if qdst, _ := netip.AddrFromSlice(q[16:20]); qdst != dst {
			return false, nil
		}
		switch {
		case m[0] == icmpUnreachable && m[1] == codeFragNeeded:
			return true, &FragNeededError{MTU: int(binary.BigEndian.Uint16(m[6:8])), From: from}
		case m[0] == icmpUnreachable:
			return true, &UnreachableError{Code: int(m[1]), From: from}
		}
		return true, fmt.Errorf("time exceeded (said by %s)", from)
	}
	return false, nil
}

// echoRequest is an ICMP echo request of size bytes (header included).
func echoRequest(id, seq uint16, size int) []byte {
	b := make([]byte, size)
	b[0] = icmpEcho
	binary.BigEndian.PutUint16(b[4:6], id)
	binary.BigEndian.PutUint16(b[6:8], seq)
	for i := 8; i < size; i++ {
		b[i] = byte(i)
	}
	binary.BigEndian.PutUint16(b[2:4], checksum(b))
	return b
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// icmpSocket opens a raw ICMP socket inside the driver's namespace, bound
// to e.Dev and e.Src, with DF as e says, receiving only echo replies and
// errors.
func (t *Tunnels) icmpSocket(e Echo) (net.PacketConn, error) {
	fd, err := t.socketInNetns(func() (int, error) {
		return unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_ICMP)
	})
	if err != nil {
		return nil, fmt.Errorf("raw icmp socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), "icmp")
	defer f.Close()
	pmtu := unix.IP_PMTUDISC_DONT
	if e.DF {
		pmtu = unix.IP_PMTUDISC_PROBE
	}
	for _, step := range []struct {
		what string
		err  error
	}{
		{"bind to device " + e.Dev, unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, e.Dev)},
		{"don't-fragment", unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, pmtu)},
		{"icmp filter", unix.SetsockoptInt(fd, solRaw, icmpFilter, ^(1<<icmpEchoReply | 1<<icmpUnreachable | 1<<icmpTimeExceed))},
		{"bind to " + e.Src.String(), unix.Bind(fd, &unix.SockaddrInet4{Addr: e.Src.As4()})},
	} {
		if step.err != nil {
			return nil, fmt.Errorf("%s: %w", step.what, step.err)
		}
	}
	return net.FilePacketConn(f)
}

// socketInNetns runs open (which makes a socket) inside the driver's
// namespace and returns the descriptor: a socket stays in the namespace it
// was made in. The switch happens on a locked thread of a goroutine of its
// own; when the thread cannot be switched back it is never unlocked, so the
// runtime ends it instead of reusing it in the wrong namespace.
func (t *Tunnels) socketInNetns(open func() (int, error)) (int, error) {
	if !t.nsFD.IsOpen() {
		return open()
	}
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{-1, fmt.Errorf("current netns: %w", err)}
			return
		}
		defer orig.Close()
		if err := netns.Set(t.nsFD); err != nil {
			runtime.UnlockOSThread()
			done <- result{-1, fmt.Errorf("enter netns: %w", err)}
			return
		}
		fd, err := open()
		if rerr := netns.Set(orig); rerr != nil {
			done <- result{fd, err} // thread stays locked and ends with this goroutine
			return
		}
		runtime.UnlockOSThread()
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}
