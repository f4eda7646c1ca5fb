package fleet_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/test/fakeengine"
)

// busybox is the image every simulated engine has.
const busybox = "rensei/busybox:latest"

// fleet is n simulated engines, closed when the test ends.
type fleet struct {
	engines []*fakeengine.Engine
	clients []*client.Client
}

// newFleet starts n engines under a short temporary directory (unix socket
// paths are bounded), with busybox and opts.
func newFleet(tb testing.TB, n int, opts fakeengine.Options) *fleet {
	tb.Helper()
	dir, err := os.MkdirTemp("", "rs-fleet-")
	if err != nil {
		tb.Fatal(err)
	}
	f := &fleet{}
	tb.Cleanup(func() {
		for _, c := range f.clients {
			c.Close()
		}
		for _, e := range f.engines {
			e.Close()
		}
		os.RemoveAll(dir)
	})
	if opts.Images == nil {
		opts.Images = map[string]string{busybox: ""}
	}
	for i := range n {
		e, err := fakeengine.Start(filepath.Join(dir, fmt.Sprintf("e%03d", i)), opts)
		if err != nil {
			tb.Fatal(err)
		}
		f.engines = append(f.engines, e)
		cli, err := client.NewClientWithOpts(client.WithHost(e.Host()), client.WithAPIVersionNegotiation())
		if err != nil {
			tb.Fatal(err)
		}
		f.clients = append(f.clients, cli)
	}
	return f
}

// testLog logs to stderr at debug level when RENSEI_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("RENSEI_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func testCtx(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// settle drains wake-ups until none came for quiet (a burst of events is
// over), failing when the first does not come within first (0: none
// expected first).
func settle(tb testing.TB, wake <-chan struct{}, first, quiet time.Duration) {
	tb.Helper()
	if first > 0 {
		select {
		case <-wake:
		case <-time.After(first):
			tb.Fatalf("no wake-up within %s", first)
		}
	}
	for {
		select {
		case <-wake:
		case <-time.After(quiet):
			return
		}
	}
}

// render renders a plan one step a line.
func render(p plan.Plan) string {
	var b strings.Builder
	for _, s := range p.Steps {
		b.WriteString(s.String() + "\n")
	}
	for _, u := range p.Unreachable {
		b.WriteString(u.Host + ": unreachable: " + u.Error + "\n")
	}
	return b.String()
}

// sameObserved fails unless two observations hold the same objects.
func sameObserved(tb testing.TB, got, want plan.Observed) {
	tb.Helper()
	norm := func(o plan.Observed) string {
		var b strings.Builder
		for _, key := range slices.Sorted(maps.Keys(o)) {
			st := o[key]
			var lines []string
			for _, c := range st.Containers {
				lines = append(lines, fmt.Sprintf("container %s %s running=%v %v %v %v", c.Name, c.Image, c.Running, c.Labels, c.Networks, c.HostPorts))
			}
			for _, n := range st.Networks {
				lines = append(lines, fmt.Sprintf("network %+v", n))
			}
			for _, v := range st.Volumes {
				lines = append(lines, fmt.Sprintf("volume %+v", v))
			}
			for _, tu := range st.Tunnels {
				lines = append(lines, fmt.Sprintf("tunnel %+v", tu))
			}
			sort.Strings(lines)
			fmt.Fprintf(&b, "%s err=%v %+v\n  %s\n", key, st.Err, st.Status, strings.Join(lines, "\n  "))
		}
		return b.String()
	}
	if g, w := norm(got), norm(want); g != w {
		tb.Fatalf("the cache disagrees with the hosts:\ncache:\n%s\nhosts:\n%s", g, w)
	}
}

// containerRemoveForce removes a running container, as docker rm -f.
var containerRemoveForce = container.RemoveOptions{Force: true}

// applyOptions are the daemon's apply options in the fleet: the default
// parallelism per host (hosts in parallel).
func applyOptions() apply.Options { return apply.Options{} }
