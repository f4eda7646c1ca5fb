package daemon_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/reconcile/daemon"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/test/images"
)

// localEngine returns a client of this machine's Docker engine with the
// busybox image, or skips (fails when CI=true) without one.
func localEngine(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.WithHost("unix:///var/run/docker.sock"), client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err = cli.Ping(ctx); err == nil {
			err = images.Ensure(ctx, cli, images.Busybox)
		}
	}
	if err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the local Docker engine as root is required (CI=true): %v", err)
		}
		t.Skipf("no local Docker engine as root: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// TestGuardWindowCloseOnEngine is TestGuardWindowClose on the real engine:
// the window closes and the clock then jumps a year; the containers stay
// (docker sees them running) until the close is approved.
func TestGuardWindowCloseOnEngine(t *testing.T) {
	cli := localEngine(t)
	b := make([]byte, 4)
	rand.Read(b)
	env := "g" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		f := filters.NewArgs(filters.Arg("label", "io.rensei.env="+env))
		cs, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		for _, c := range cs {
			cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
		ns, _ := cli.NetworkList(ctx, network.ListOptions{Filters: f})
		for _, n := range ns {
			cli.NetworkRemove(ctx, n.ID)
		}
	})
	repo := newConfigRepo(t)
	clk := &clock{now: time.Date(2027, 7, 31, 23, 0, 0, 0, time.UTC)}
	c1 := repo.push("init", map[string]string{
		"sites/local.jsonnet":         "[{ name: 'local', hosts: [{ name: 'docker', docker: 'unix:///var/run/docker.sock' }] }]\n",
		"policy/deploy.jsonnet":       "{ deployment: '" + env + "' }\n",
		"environments/course.jsonnet": windowed(env, "2027-08-01T00:00:00Z", "ann", "bob"),
	})
	remote, err := gitrepo.OpenRemote(repo.bare, t.TempDir(), gitrepo.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{Remote: remote, Publisher: &status.Publisher{Remote: remote}, Interval: time.Hour,
		Connect: engine.ConnectWatching, Now: clk.Now, Log: newDaemonLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	running := func() int {
		cs, err := cli.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "io.rensei.env="+env))})
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}
	d.Pass(ctx)
	if n := running(); n != 2 {
		t.Fatalf("%d containers running, want 2", n)
	}
	for _, at := range []time.Time{time.Date(2027, 8, 1, 0, 1, 0, 0, time.UTC), time.Date(2028, 8, 1, 0, 0, 0, 0, time.UTC)} {
		clk.Set(at)
		d.Pass(ctx)
		if n := running(); n != 2 {
			t.Fatalf("at %s (window closed, clock jumped) %d containers running, want 2 until approved", at, n)
		}
	}
	if n := heldReports(repo, c1, status.ApprovePrune); n != 1 {
		t.Fatalf("%d reports say held, want 1: %+v", n, repo.reports())
	}
	if err := status.Approve(ctx, remote, "", status.Approval{Commit: c1, Allow: []string{status.ApprovePrune}, By: "test"}); err != nil {
		t.Fatal(err)
	}
	d.Pass(ctx)
	if n := running(); n != 0 {
		t.Fatalf("approved, but %d containers still run", n)
	}
}
