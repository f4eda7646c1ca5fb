package netlink

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/drivers"
)

// benchNetworks is the number of overlay networks in one benchmark round.
const benchNetworks = 200

// benchSpecs returns benchNetworks specs (2 peers each) and creates their
// bridges, as Docker would have, in ns.
func benchSpecs(b *testing.B, ns string) []drivers.TunnelSpec {
	b.Helper()
	tun, _ := newTunnels(b, ns)
	specs := make([]drivers.TunnelSpec, benchNetworks)
	for i := range specs {
		vni := 2000 + i
		specs[i] = drivers.TunnelSpec{
			Name: fmt.Sprintf("rs-vx-%d", vni), VNI: vni, Local: underlay(1), Port: 4789,
			Bridge: fmt.Sprintf("rs-br-%d", vni), MTU: 1450,
			Peers: []string{underlay(2), underlay(3)}, Owner: fmt.Sprintf("bench/net%d", i),
		}
		// Netlink rather than 200 ip processes: setup time is not measured
		// but should not dominate the run either.
		if err := tun.h.LinkAdd(bridgeLink(specs[i].Bridge)); err != nil {
			b.Fatalf("bridge %s: %v", specs[i].Bridge, err)
		}
	}
	return specs
}

func ensureAll(b *testing.B, tun *Tunnels, specs []drivers.TunnelSpec) {
	b.Helper()
	for _, s := range specs {
		if err := tun.Ensure(context.Background(), s); err != nil {
			b.Fatalf("Ensure %s: %v", s.Name, err)
		}
	}
}

func specNames(specs []drivers.TunnelSpec) []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return names
}

// reportPerTunnel reports the measured time per tunnel in milliseconds.
func reportPerTunnel(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/float64(b.N*benchNetworks), "ms/tunnel")
	b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/float64(b.N), "ms/round")
}

// BenchmarkTunnels creates benchNetworks VXLAN devices (each enslaved to its
// bridge, 2 FDB peers) with Ensure and deletes them again, in one fresh
// namespace. Each sub-benchmark times one phase; ms/tunnel is the cost per
// device, ms/round the cost of all benchNetworks.
func BenchmarkTunnels(b *testing.B) {
	ns := newNetns(b)
	specs := benchSpecs(b, ns)
	names := specNames(specs)
	tun, _ := newTunnels(b, ns)
	ctx := context.Background()

	b.Run("create", func(b *testing.B) {
		for range b.N {
			ensureAll(b, tun, specs)
			b.StopTimer()
			if err := tun.DeleteMany(ctx, names); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		reportPerTunnel(b)
	})
	b.Run("ensure-noop", func(b *testing.B) {
		b.StopTimer()
		ensureAll(b, tun, specs)
		b.StartTimer()
		for range b.N {
			ensureAll(b, tun, specs)
		}
		b.StopTimer()
		if err := tun.DeleteMany(ctx, names); err != nil {
			b.Fatal(err)
		}
		reportPerTunnel(b)
	})
	deleters := []struct {
		name string
		del  func(b *testing.B)
	}{
		{"delete-sequential", func(b *testing.B) {
			for _, n := range names {
				if err := tun.Delete(ctx, n); err != nil {
					b.Fatal(err)
				}
			}
		}},
		{"delete-parallel-8", func(b *testing.B) {
			// Research: does concurrency help? Every RTM_DELLINK takes the
			// RTNL lock, so the kernel serialises them anyway.
			var wg sync.WaitGroup
			work := make(chan string)
			for range 8 {
				wg.Go(func() {
					for n := range work {
						if err := tun.Delete(ctx, n); err != nil {
							b.Error(err)
						}
					}
				})
			}
			for _, n := range names {
				work <- n
			}
			close(work)
			wg.Wait()
		}},
		{"delete-many", func(b *testing.B) {
			if err := tun.DeleteMany(ctx, names); err != nil {
				b.Fatal(err)
			}
		}},
	}
	for _, d := range deleters {
		b.Run(d.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				ensureAll(b, tun, specs)
				b.StartTimer()
				d.del(b)
			}
			reportPerTunnel(b)
		})
	}
}

// BenchmarkList lists benchNetworks owned devices (plus their bridges) with
// one link, one FDB and one qdisc dump.
func BenchmarkList(b *testing.B) {
	ns := newNetns(b)
	specs := benchSpecs(b, ns)
	tun, _ := newTunnels(b, ns)
	ensureAll(b, tun, specs)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		got, err := tun.List(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != benchNetworks {
			b.Fatalf("List: %d tunnels, want %d", len(got), benchNetworks)
		}
	}
}
