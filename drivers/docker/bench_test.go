package docker

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"testing"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/test/images"
)

// benchContainers is the size of one cold apply.
const (
	benchContainers = 100
	benchWorkers    = 4
)

// benchSetup returns a harness and one shared owned network.
func benchSetup(b *testing.B) (*harness, string) {
	h := newHarness(b)
	net := h.netSpec(h.name("bench"))
	if err := h.d.Networks().Ensure(context.Background(), net); err != nil {
		b.Fatal(err)
	}
	return h, net.Name
}

// removeContainers removes the benchmark's containers, outside the timer.
func removeContainers(b *testing.B, h *harness) {
	b.StopTimer()
	defer b.StartTimer()
	parallel(benchContainers, 8, func(i int) error {
		return h.d.Containers().Delete(context.Background(), h.name(fmt.Sprintf("c%03d", i)))
	}, b)
}

// parallel runs f(0..n-1) on workers goroutines and fails b on any error.
func parallel(n, workers int, f func(i int) error, b *testing.B) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := f(i); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

// BenchmarkColdApply100 ensures 100 sleeping containers on one network
// through the driver, four at a time.
func BenchmarkColdApply100(b *testing.B) {
	h, net := benchSetup(b)
	cs := h.d.Containers()
	b.ResetTimer()
	for range b.N {
		parallel(benchContainers, benchWorkers, func(i int) error {
			spec := h.spec(h.name(fmt.Sprintf("c%03d", i)))
			spec.Networks = []drivers.NetworkAttach{{Network: net}}
			return cs.Ensure(context.Background(), spec)
		}, b)
		removeContainers(b, h)
	}
	b.StopTimer()
	b.ReportMetric(float64(benchContainers*b.N)/b.Elapsed().Seconds(), "containers/s")
}

// BenchmarkDockerRun100 starts the same containers with `docker run -d`,
// four at a time: the engine's own figure through its command-line client.
func BenchmarkDockerRun100(b *testing.B) {
	if _, err := exec.LookPath("docker"); err != nil {
		b.Skip("no docker command")
	}
	h, net := benchSetup(b)
	b.ResetTimer()
	for range b.N {
		parallel(benchContainers, benchWorkers, func(i int) error {
			name := h.name(fmt.Sprintf("c%03d", i))
			out, err := exec.Command("docker", "run", "-d", "--name", name, "--hostname", name,
				"--network", net, "--label", drivers.LabelManaged+"=true", "--label", drivers.LabelSpecHash+"=h1",
				images.Busybox, "sleep", "3600").CombinedOutput()
			if err != nil {
				return fmt.Errorf("docker run %s: %v: %s", name, err, out)
			}
			return nil
		}, b)
		removeContainers(b, h)
	}
	b.StopTimer()
	b.ReportMetric(float64(benchContainers*b.N)/b.Elapsed().Seconds(), "containers/s")
}
