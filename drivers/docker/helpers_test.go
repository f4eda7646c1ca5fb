package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/test/images"
)

// testHost is the "site/host" name the test driver carries.
const testHost = "test/local"

// harness is one test's view of the real engine: a driver, a raw client
// for setting up foreign objects and checking results, and a unique name
// prefix under which everything the test makes is removed at cleanup.
type harness struct {
	tb     testing.TB
	d      *Driver
	cli    *client.Client
	prefix string
	octet  int // third octet of the next test subnet in 198.19.0.0/16
}

// testEndpoint is the engine under test: $DOCKER_HOST or the local socket.
func testEndpoint() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return "unix:///var/run/docker.sock"
}

// newHarness connects to the engine, makes sure the busybox image is there
// and registers the cleanup. Without an engine it skips, or fails on CI.
func newHarness(tb testing.TB) *harness {
	tb.Helper()
	var log *slog.Logger
	if os.Getenv("RENSEI_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := New(testEndpoint(), nil, testHost, log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if st := d.Probe(ctx); !st.Reachable {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("docker engine unreachable on CI: %s", st.Error)
		}
		tb.Skipf("docker engine unreachable: %s", st.Error)
	}
	if err := images.Ensure(context.Background(), d.cli, images.Busybox); err != nil {
		tb.Fatal(err)
	}
	h := &harness{
		tb:     tb,
		d:      d,
		cli:    d.cli,
		prefix: "rs-t-" + randHex(3),
		octet:  100 + mrand.IntN(100),
	}
	tb.Cleanup(h.cleanup)
	return h
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// name is a unique object name for this test.
func (h *harness) name(s string) string { return h.prefix + "-" + s }

// subnet returns a fresh /24 in 198.19.0.0/16 and its third octet.
func (h *harness) subnet() (string, int) {
	o := h.octet
	h.octet++
	return fmt.Sprintf("198.19.%d.0/24", o), o
}

// labels are the labels of an owned object with the given spec hash.
func labels(hash string) map[string]string {
	return map[string]string{
		drivers.LabelManaged:  "true",
		drivers.LabelEnv:      "test",
		drivers.LabelSpecHash: hash,
	}
}

// spec is an owned busybox container that runs cmd (sleep by default).
func (h *harness) spec(name string, cmd ...string) drivers.ContainerSpec {
	if len(cmd) == 0 {
		cmd = []string{"sleep", "3600"}
	}
	return drivers.ContainerSpec{
		Name:     name,
		Hostname: name,
		Image:    images.Busybox,
		Command:  cmd,
		Labels:   labels("h1"),
		Restart:  "no",
	}
}

// netSpec is an owned bridge network on a fresh subnet.
func (h *harness) netSpec(name string) drivers.NetworkSpec {
	subnet, _ := h.subnet()
	return drivers.NetworkSpec{Name: name, Subnet: subnet, MTU: 1450, Labels: labels("n1")}
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	h.tb.Cleanup(cancel)
	return ctx
}

// inspect returns the container, failing the test when it is missing.
func (h *harness) inspect(name string) container.InspectResponse {
	h.tb.Helper()
	c, err := h.cli.ContainerInspect(h.ctx(), name)
	if err != nil {
		h.tb.Fatalf("inspect %s: %v", name, err)
	}
	return c
}

// output waits for the container to exit and returns its stdout and stderr.
func (h *harness) output(name string) string {
	h.tb.Helper()
	ctx := h.ctx()
	waitc, errc := h.cli.ContainerWait(ctx, name, container.WaitConditionNotRunning)
	select {
	case <-waitc:
	case err := <-errc:
		h.tb.Fatalf("wait %s: %v", name, err)
	}
	rc, err := h.cli.ContainerLogs(ctx, name, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		h.tb.Fatalf("logs %s: %v", name, err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil && err != io.EOF {
		h.tb.Fatalf("logs %s: %v", name, err)
	}
	return out.String()
}

// foreignContainer creates (and starts, if start) a container of that name
// that Rensei does not own.
func (h *harness) foreignContainer(name string, start bool) string {
	h.tb.Helper()
	ctx := h.ctx()
	resp, err := h.cli.ContainerCreate(ctx, &container.Config{Image: images.Busybox, Cmd: []string{"sleep", "3600"}},
		nil, nil, nil, name)
	if err != nil {
		h.tb.Fatal(err)
	}
	if start {
		if err := h.cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
			h.tb.Fatal(err)
		}
	}
	return resp.ID
}

// cleanup removes every container, network and volume whose name carries
// the test's prefix, owned or not, in dependency order.
func (h *harness) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	byName := filters.NewArgs(filters.Arg("name", h.prefix))
	cs, err := h.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: byName})
	if err != nil {
		h.tb.Errorf("cleanup: list containers: %v", err)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, c := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := h.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !isNotFound(err) {
				h.tb.Errorf("cleanup: remove container %v: %v", c.Names, err)
			}
		}()
	}
	wg.Wait()
	ns, err := h.cli.NetworkList(ctx, network.ListOptions{Filters: byName})
	if err != nil {
		h.tb.Errorf("cleanup: list networks: %v", err)
	}
	for _, n := range ns {
		if err := h.cli.NetworkRemove(ctx, n.ID); err != nil && !isNotFound(err) {
			h.tb.Errorf("cleanup: remove network %s: %v", n.Name, err)
		}
	}
	vs, err := h.cli.VolumeList(ctx, volume.ListOptions{Filters: byName})
	if err != nil {
		h.tb.Errorf("cleanup: list volumes: %v", err)
	}
	for _, v := range vs.Volumes {
		if err := h.cli.VolumeRemove(ctx, v.Name, true); err != nil && !isNotFound(err) {
			h.tb.Errorf("cleanup: remove volume %s: %v", v.Name, err)
		}
	}
}

// withPrefix keeps the names that belong to this test.
func (h *harness) withPrefix(names []string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, h.prefix) {
			out = append(out, n)
		}
	}
	return out
}
