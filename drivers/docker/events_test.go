package docker

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
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

func TestEvents(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	spec := h.spec(h.name("watched"))
	if err := h.d.Containers().Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}

	ectx, cancel := context.WithCancel(ctx)
	ch, err := h.d.Events(ectx)
	if err != nil {
		t.Fatal(err)
	}
	// The stream replays the last second, which may hold the creation above.
	quiet(ch, 1500*time.Millisecond)

	if err := h.d.Containers().Delete(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification within 10s of removing an owned container")
	}

	cancel()
	deadline := time.After(10 * time.Second)
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

func TestEventRelevant(t *testing.T) {
	msg := func(typ events.Type, action events.Action, name string) events.Message {
		return events.Message{Type: typ, Action: action, Actor: events.Actor{Attributes: map[string]string{"name": name}}}
	}
	tests := []struct {
		m    events.Message
		want bool
	}{
		{msg(events.ContainerEventType, events.ActionDie, "web-1"), true},
		{msg(events.NetworkEventType, events.ActionDestroy, "cs101-lan"), true},
		{msg(events.NetworkEventType, events.ActionDisconnect, "bridge"), false},
		{msg(events.NetworkEventType, events.ActionDisconnect, "host"), false},
		{msg(events.VolumeEventType, events.ActionDestroy, "home"), true},
	}
	for _, tt := range tests {
		if got := relevant(tt.m); got != tt.want {
			t.Errorf("relevant(%s %s %s) = %v, want %v", tt.m.Type, tt.m.Action, tt.m.Actor.Attributes["name"], got, tt.want)
		}
	}
}
