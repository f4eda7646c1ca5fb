package fakeengine_test

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/test/fakeengine"
)

// quiet drains notifications until none came for d.
func quiet(ch <-chan struct{}, d time.Duration) {
	for {
		select {
		case <-ch:
		case <-time.After(d):
			return
		}
	}
}

// wake fails unless ch receives within a second.
func wake(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatalf("no notification within 1s of %s", what)
	}
}

func TestDriverEvents(t *testing.T) {
	e := newEngine(t, fakeengine.Options{})
	d := newDriver(t, e)
	ctx := testCtx(t)
	if err := d.Networks().Ensure(ctx, netSpec("lan", "10.60.0.0/24", "", "")); err != nil {
		t.Fatal(err)
	}
	s := spec("watched")
	s.Networks = []drivers.NetworkAttach{{Network: "lan"}}
	if err := d.Containers().Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	ectx, cancel := context.WithCancel(ctx)
	ch, err := d.Events(ectx)
	if err != nil {
		t.Fatal(err)
	}
	// The streams replay the last second, which holds the creation above.
	quiet(ch, 300*time.Millisecond)

	if err := e.Exit("watched", 137); err != nil {
		t.Fatal(err)
	}
	wake(t, ch, "a container's death")
	quiet(ch, 200*time.Millisecond)

	// Foreign containers do not wake the driver.
	cli := newClient(t, e)
	if _, err := cli.ContainerCreate(ctx, &container.Config{Image: busybox}, nil, nil, nil, "foreign"); err != nil {
		t.Fatal(err)
	}
	if err := cli.ContainerRemove(ctx, "foreign", container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Error("woken by a foreign container")
	case <-time.After(200 * time.Millisecond):
	}

	if err := d.Containers().Delete(ctx, "watched"); err != nil {
		t.Fatal(err)
	}
	wake(t, ch, "removing an owned container")
	quiet(ch, 200*time.Millisecond)
	if err := d.Networks().Delete(ctx, "lan"); err != nil {
		t.Fatal(err)
	}
	wake(t, ch, "removing a network")

	cancel()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("channel not closed after the context ended")
		}
	}
}

func TestEventFilters(t *testing.T) {
	e := newEngine(t, fakeengine.Options{})
	cli := newClient(t, e)
	ctx := testCtx(t)
	since := time.Now()
	for _, name := range []string{"owned", "other"} {
		lbl := map[string]string{drivers.LabelManaged: "true"}
		if name == "other" {
			lbl = nil
		}
		if _, err := cli.ContainerCreate(ctx, &container.Config{Image: busybox, Labels: lbl}, nil, nil, nil, name); err != nil {
			t.Fatal(err)
		}
		if err := cli.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A bounded stream (until now) replays only the past events that match.
	msgs, errs := cli.Events(ctx, events.ListOptions{
		Since: since.Format(time.RFC3339Nano), Until: time.Now().Format(time.RFC3339Nano),
		Filters: filters.NewArgs(filters.Arg("type", "container"), filters.Arg("label", drivers.LabelManaged+"=true")),
	})
	var got []string
	for done := false; !done; {
		select {
		case m := <-msgs:
			got = append(got, m.Actor.Attributes["name"]+" "+string(m.Action))
		case <-errs:
			done = true
		}
	}
	want := []string{"owned create", "owned start"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("replayed %v, want %v", got, want)
	}
}
