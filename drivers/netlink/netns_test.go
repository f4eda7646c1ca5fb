package netlink

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	vnl "github.com/vishvananda/netlink"
)

// requireNetns skips the test, or fails it on CI (CI=true), when network
// namespaces cannot be made here: not root, or no ip tool.
func requireNetns(tb testing.TB) {
	tb.Helper()
	missing := func(why string) {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("netlink integration test needs %s (CI=true: a missing prerequisite is a failure)", why)
		}
		tb.Skipf("needs %s", why)
	}
	if os.Geteuid() != 0 {
		missing("root")
	}
	for _, tool := range []string{"ip", "bridge", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing("the " + tool + " tool (iproute2)")
		}
	}
}

// newNetns creates a fresh, uniquely named network namespace with lo up and
// deletes it (with everything in it) when the test ends, also on failure.
func newNetns(tb testing.TB) string {
	tb.Helper()
	requireNetns(tb)
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "rs-t-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("ip netns add %s: %v: %s", name, err, out)
		}
		tb.Skipf("no network namespace support: ip netns add: %v: %s", err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			tb.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	run(tb, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// run runs a command and fails the test when it fails; it returns stdout.
func run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// ipJSON runs `ip -n ns -j <args>` (or bridge/tc) and decodes the output.
func ipJSON(tb testing.TB, v any, tool, ns string, args ...string) {
	tb.Helper()
	out := run(tb, tool, append([]string{"-n", ns, "-j"}, args...)...)
	if strings.TrimSpace(out) == "" {
		out = "[]"
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		tb.Fatalf("%s %v: decode %q: %v", tool, args, out, err)
	}
}

// lab is two fresh namespaces joined by a veth pair on the underlay
// 198.18.0.0/24: a has 198.18.0.1 and b has 198.18.0.2, both on eth0.
type lab struct{ a, b string }

func newLab(tb testing.TB) lab {
	tb.Helper()
	l := lab{a: newNetns(tb), b: newNetns(tb)}
	run(tb, "ip", "-n", l.a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", l.b)
	for i, ns := range []string{l.a, l.b} {
		run(tb, "ip", "-n", ns, "addr", "add", underlay(i+1)+"/24", "dev", "eth0")
		run(tb, "ip", "-n", ns, "link", "set", "eth0", "up")
	}
	return l
}

// underlay returns 198.18.0.<i>.
func underlay(i int) string { return "198.18.0." + strconv.Itoa(i) }

// addBridge creates an up Linux bridge, as Docker would for a network.
func addBridge(tb testing.TB, ns, name string) {
	tb.Helper()
	run(tb, "ip", "-n", ns, "link", "add", name, "type", "bridge")
	run(tb, "ip", "-n", ns, "link", "set", name, "up")
}

// newTunnels opens the driver in ns and closes it when the test ends. The
// returned recorder holds every change the driver logged.
func newTunnels(tb testing.TB, ns string) (*Tunnels, *recorder) {
	tb.Helper()
	rec := &recorder{}
	tun, err := New(ns, "lab/"+ns, slog.New(rec))
	if err != nil {
		tb.Fatalf("New(%s): %v", ns, err)
	}
	tb.Cleanup(func() { _ = tun.Close() })
	return tun, rec
}

// recorder is a slog.Handler that keeps "action name change|peer" of every
// Info record; the driver logs exactly one such record per change it makes.
type recorder struct {
	mu   sync.Mutex
	recs []string
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler           { return r }
func (r *recorder) WithGroup(string) slog.Handler                { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var parts []string
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "action", "name", "change", "peer", "reason":
			parts = append(parts, a.Key+"="+a.Value.String())
		}
		return true
	})
	slices.Sort(parts)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, strings.Join(parts, " "))
	return nil
}

// take returns the records so far and forgets them.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.recs
	r.recs = nil
	return out
}

func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// bridgeLink is an up Linux bridge for LinkAdd.
func bridgeLink(name string) *vnl.Bridge {
	attrs := vnl.NewLinkAttrs()
	attrs.Name = name
	attrs.Flags = net.FlagUp
	return &vnl.Bridge{LinkAttrs: attrs}
}
