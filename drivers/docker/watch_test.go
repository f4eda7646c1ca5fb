package docker

import (
	"context"
	"testing"
	"time"
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
	spec := h.spec(h.name("watched"))
	if err := h.d.Containers().Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	until("container made", func(c Change) bool { return c.Containers && !c.Wake })
	if err := h.d.Containers().Delete(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	until("container removed", func(c Change) bool { return c.Containers && c.Wake })
	ns := h.netSpec(h.name("net"))
	if err := h.d.Networks().Ensure(ctx, ns); err != nil {
		t.Fatal(err)
	}
	until("network made", func(c Change) bool { return c.Networks && !c.Wake })
	if err := h.d.Networks().Delete(ctx, ns.Name); err != nil {
		t.Fatal(err)
	}
	until("network removed", func(c Change) bool { return c.Networks && c.Wake })
}
