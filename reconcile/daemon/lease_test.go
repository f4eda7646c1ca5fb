package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/test/gittest"
)

// leaseDaemon is a daemon connected to hosts (no drivers: leased only
// reads their keys) whose leases live on the status branch of bare.
func leaseDaemon(t *testing.T, bare string, ttl time.Duration, hosts ...string) *Daemon {
	t.Helper()
	remote, err := gitrepo.OpenRemote(bare, t.TempDir(), gitrepo.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Remote: remote, Publisher: &status.Publisher{Remote: remote}, Interval: ttl / 4, LeaseTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	all := &engine.Hosts{Drivers: map[string]drivers.Host{}}
	for _, k := range hosts {
		all.Drivers[k] = drivers.Host{}
	}
	d.conn = &connection{hosts: all, cancel: func() {}}
	t.Cleanup(func() { d.releaseLeases() })
	return d
}

// TestLeaseClaimedOnlyWhenDue: a pass claims the leases of its hosts from
// the status branch only when one is to be acquired or renewed (half its
// time gone), when another daemon holds a host, or when the hosts change;
// otherwise the leases held are enough.
func TestLeaseClaimedOnlyWhenDue(t *testing.T) {
	bare := gittest.New(t).Bare()
	ctx := context.Background()
	const ttl = 2 * time.Second
	d := leaseDaemon(t, bare, ttl, "a/h", "b/h")
	claims := func() int64 { return d.Stats().LeaseClaims }

	if n := len(d.leased(ctx).Drivers); n != 2 || claims() != 1 {
		t.Fatalf("first pass: %d hosts held, %d claims; want 2, 1", n, claims())
	}
	first := d.leases["a/h"]
	for range 3 {
		if n := len(d.leased(ctx).Drivers); n != 2 {
			t.Fatalf("%d hosts held, want 2", n)
		}
	}
	if claims() != 1 {
		t.Errorf("%d claims after passes with live leases, want 1", claims())
	}

	// Half the lease's time gone: renewed.
	time.Sleep(time.Until(first.Add(-ttl / 2)))
	d.leased(ctx)
	if claims() != 2 || !d.leases["a/h"].After(first) {
		t.Errorf("past half the lease: %d claims, lease until %s (was %s); want 2 claims, renewed", claims(), d.leases["a/h"], first)
	}
	d.leased(ctx)
	if claims() != 2 {
		t.Errorf("%d claims after the renewal, want 2", claims())
	}

	// A host added: claimed at once.
	d.conn.hosts.Drivers["c/h"] = drivers.Host{}
	if n := len(d.leased(ctx).Drivers); n != 3 || claims() != 3 {
		t.Errorf("a host added: %d hosts held, %d claims; want 3, 3", n, claims())
	}

	// Another daemon on overlapping hosts finds them held, and claims on
	// every pass (the first may release them), until it gets one.
	other := leaseDaemon(t, bare, ttl, "c/h", "d/h")
	for range 3 {
		if n := len(other.leased(ctx).Drivers); n != 1 {
			t.Fatalf("the other daemon holds %d hosts, want 1 (d/h)", n)
		}
	}
	if n := other.Stats().LeaseClaims; n != 3 {
		t.Errorf("the other daemon claimed %d times in 3 passes while a host is held elsewhere, want 3", n)
	}
	d.releaseLeases()
	if n := len(other.leased(ctx).Drivers); n != 2 {
		t.Errorf("after the release the other daemon holds %d hosts, want 2", n)
	}
	other.leased(ctx)
	if n := other.Stats().LeaseClaims; n != 4 {
		t.Errorf("the other daemon claimed %d times, want 4 (none once it holds every host)", n)
	}
}
