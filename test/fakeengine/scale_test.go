package fakeengine_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/docker"
	"github.com/rensei-dev/rensei/test/fakeengine"
)

// The fleet is what one Rensei daemon would manage: many hosts, each with
// a network and a couple of hundred owned containers.
const (
	fleetEngines    = 100
	fleetContainers = 200
)

type fleet struct {
	engines []*fakeengine.Engine
	drivers []*docker.Driver
}

// newFleet starts n engines under dir and creates m containers on each
// through the real driver (one network, a static address, a published port
// and a file per container), engines in parallel. The caller closes it.
func newFleet(tb testing.TB, dir string, n, m int) *fleet {
	tb.Helper()
	f := &fleet{}
	for i := range n {
		e, err := fakeengine.Start(filepath.Join(dir, fmt.Sprintf("e%03d", i)), fakeengine.Options{Images: map[string]string{busybox: ""}})
		if err != nil {
			f.close()
			tb.Fatal(err)
		}
		d, err := docker.New(e.Host(), nil, "fleet/"+e.Name(), nil)
		if err != nil {
			f.close()
			tb.Fatal(err)
		}
		f.engines, f.drivers = append(f.engines, e), append(f.drivers, d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for _, d := range f.drivers {
		wg.Go(func() {
			if err := d.Networks().Ensure(ctx, netSpec("lan", "10.100.0.0/16", "10.100.0.0/20", "10.100.0.1")); err != nil {
				errs <- err
				return
			}
			for j := range m {
				s := spec(fmt.Sprintf("c%03d", j))
				s.Labels[drivers.LabelGroup] = fmt.Sprintf("g%02d", j%20)
				s.Networks = []drivers.NetworkAttach{{Network: "lan", IPv4: fmt.Sprintf("10.100.%d.%d", 1+j/200, 10+j%200)}}
				s.Ports = []drivers.PortBinding{{Container: 22, Host: 20000 + j}}
				s.Files = []drivers.File{{Path: "/etc/motd", Content: "hello " + s.Name}}
				if err := d.Containers().Ensure(ctx, s); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		f.close()
		tb.Fatal(err)
	}
	return f
}

// closeDrivers drops the drivers' connections.
func (f *fleet) closeDrivers() {
	for _, d := range f.drivers {
		d.Close()
	}
}

func (f *fleet) close() {
	f.closeDrivers()
	for _, e := range f.engines {
		e.Close()
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestHundredEngines(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 20,000 containers")
	}
	base := heapInUse()
	start := time.Now()
	f := newFleet(t, t.TempDir(), fleetEngines, fleetContainers)
	t.Cleanup(f.close)
	created := time.Since(start)
	withClients := heapInUse()
	f.closeDrivers()
	time.Sleep(100 * time.Millisecond) // let the servers see the connections close
	modelOnly := heapInUse()
	total := fleetEngines * fleetContainers
	t.Logf("created %d containers on %d engines in %v (%.0f µs each)", total, fleetEngines,
		created.Round(time.Millisecond), float64(created.Microseconds())/float64(total))
	t.Logf("heap: %.1f MiB with drivers connected, %.1f MiB engines alone (%.1f KiB per container)",
		mib(withClients-base), mib(modelOnly-base), float64(modelOnly-base)/1024/float64(total))

	ctx := testCtx(t)
	start = time.Now()
	for i, e := range f.engines {
		d := newDriver(t, e)
		list, err := d.Containers().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != fleetContainers {
			t.Fatalf("engine %d lists %d containers, want %d", i, len(list), fleetContainers)
		}
		for _, c := range list {
			if !c.Running || c.Networks["lan"] == "" || len(c.HostPorts) != 1 {
				t.Fatalf("engine %d: %+v", i, c)
			}
		}
	}
	t.Logf("listed all %d engines one after the other in %v", fleetEngines, time.Since(start).Round(time.Millisecond))
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

var (
	benchOnce  sync.Once
	benchFleet *fleet
	benchDir   string
)

// sharedFleet builds the 100×200 fleet once for all benchmarks; TestMain
// closes it.
func sharedFleet(b *testing.B) *fleet {
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fakeengine-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = dir
		benchFleet = newFleet(b, dir, fleetEngines, fleetContainers)
	})
	if benchFleet == nil {
		b.Fatal("fleet setup failed")
	}
	return benchFleet
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchFleet != nil {
		benchFleet.close()
	}
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// BenchmarkListOneEngine is one driver List of one engine's 200 containers
// over the unix socket: what a pass pays per host to observe containers.
func BenchmarkListOneEngine(b *testing.B) {
	f := sharedFleet(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if _, err := f.drivers[i%fleetEngines].Containers().List(ctx); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkListFleet lists all 100 engines, one goroutine per engine: one
// observation pass of a daemon over the whole fleet.
func BenchmarkListFleet(b *testing.B) {
	f := sharedFleet(b)
	ctx := context.Background()
	for b.Loop() {
		var wg sync.WaitGroup
		for _, d := range f.drivers {
			wg.Go(func() {
				if _, err := d.Containers().List(ctx); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
}

// BenchmarkServeList is the engine's own share of a list: filtering and
// rendering 200 containers to JSON, without the socket and the client.
func BenchmarkServeList(b *testing.B) {
	f := sharedFleet(b)
	req := httptest.NewRequest(http.MethodGet,
		`/v1.41/containers/json?all=1&filters={"label":{"io.rensei.managed=true":true}}`, nil)
	for b.Loop() {
		rec := httptest.NewRecorder()
		f.engines[0].ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}
