package fakeengine_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/docker"
	"github.com/rensei-dev/rensei/test/fakeengine"
)

// busybox is the image every test engine has, under the tag the real
// tests use.
const busybox = "rensei/busybox:latest"

// newEngine starts an engine with busybox present (unless opts lists
// images itself) and closes it at cleanup.
func newEngine(tb testing.TB, opts fakeengine.Options) *fakeengine.Engine {
	tb.Helper()
	if opts.Images == nil {
		opts.Images = map[string]string{busybox: ""}
	}
	e, err := fakeengine.Start(tb.TempDir(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Error(err)
		}
	})
	return e
}

// newDriver returns the real docker driver for e.
func newDriver(tb testing.TB, e *fakeengine.Engine) *docker.Driver {
	tb.Helper()
	var log *slog.Logger
	if os.Getenv("RENSEI_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := docker.New(e.Host(), nil, "test/"+e.Name(), log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// newClient returns a negotiating docker client of e, for setting up
// foreign objects and reading raw answers.
func newClient(tb testing.TB, e *fakeengine.Engine) *client.Client {
	tb.Helper()
	cli, err := client.NewClientWithOpts(client.WithHost(e.Host()), client.WithAPIVersionNegotiation())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cli.Close() })
	return cli
}

func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// labels are the labels of an owned object with the given spec hash.
func labels(hash string) map[string]string {
	return map[string]string{
		drivers.LabelManaged:  "true",
		drivers.LabelEnv:      "test",
		drivers.LabelSpecHash: hash,
	}
}

// spec is an owned busybox container.
func spec(name string) drivers.ContainerSpec {
	return drivers.ContainerSpec{
		Name: name, Hostname: name, Image: busybox, Command: []string{"sleep", "3600"},
		Labels: labels("h1"), Restart: "no",
	}
}

// netSpec is an owned bridge network on subnet with this host's block and
// gateway.
func netSpec(name, subnet, ipRange, gateway string) drivers.NetworkSpec {
	return drivers.NetworkSpec{Name: name, Subnet: subnet, IPRange: ipRange, Gateway: gateway, MTU: 1450, Labels: labels("n1")}
}

// listed returns the driver's view of one container, failing when absent.
func listed(tb testing.TB, d *docker.Driver, name string) drivers.Container {
	tb.Helper()
	list, err := d.Containers().List(testCtx(tb))
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range list {
		if c.Name == name {
			return c
		}
	}
	tb.Fatalf("container %s not listed (%d listed)", name, len(list))
	return drivers.Container{}
}
