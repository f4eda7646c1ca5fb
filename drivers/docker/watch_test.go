package docker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/drivers"
)

// TestWatch: a cache of the engine's lists hears of every change to
// owned containers and to networks; removals also wake.
func TestWatch(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(h.ctx())
	defer cancel()
	ch := make(chan Change, 1024)
	if err := h.d.Watch(ctx, func(c Change) { ch <- c }); err != nil {
		t.Fatal(err)
	}
	// until collects changes until one matches or 10s passed.
	until := func(what string, ok func(Change) bool) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case c := <-ch:
				if c.Gap {
					t.Fatalf("%s: unexpected gap %+v", what, c)
				}
				if ok(c) {
					return
				}
			case <-timeout:
				t.Fatalf("%s: no change within 10s", what)
			}
		}
	}
	ns := h.netSpec(h.name("net"))
	if err := h.d.Networks().Ensure(ctx, ns); err != nil {
		t.Fatal(err)
	}
	until("network made", func(c Change) bool { return c.Networks && !c.Wake })
	theirs := h.foreignContainer(h.name("theirs"), true)
	spec := h.spec(h.name("watched"))
	spec.Networks = []drivers.NetworkAttach{{Network: ns.Name}}
	if err := h.d.Containers().Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	list, err := h.d.Containers().Lookup(ctx, nil, []string{spec.Name})
	if err != nil || len(list) != 1 {
		t.Fatalf("look-up of %s: %v, %v", spec.Name, list, err)
	}
	id := list[0].ID
	// Every change of a container names it: a cache takes only it again.
	// The events of a container Rensei does not own (made before ours, so
	// its events come first) are not changes.
	byID := func(c Change) bool { return slices.Equal(c.ContainerIDs, []string{id}) }
	until("container made", func(c Change) bool {
		if c.Containers && len(c.ContainerIDs) > 0 && !byID(c) {
			t.Fatalf("a change of another container: %+v (foreign %s)", c, theirs)
		}
		return c.Containers && !c.Wake && byID(c)
	})
	until("container connected", func(c Change) bool { return c.Containers && !c.Networks && byID(c) })
	if err := h.d.Containers().Delete(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	until("container removed", func(c Change) bool { return c.Containers && c.Wake && byID(c) })
	if err := h.d.Networks().Delete(ctx, ns.Name); err != nil {
		t.Fatal(err)
	}
	until("network removed", func(c Change) bool { return c.Networks && c.Wake })
}
