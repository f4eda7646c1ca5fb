package docker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/rensei-dev/rensei/drivers"
)

// Change is what one engine event (or a broken stream) means for a cache of
// the engine's owned objects: which lists may now differ, and whether a
// reconcile pass should start early.
type Change struct {
	// Containers, Networks and Volumes: that kind's List may have changed.
	Containers, Networks, Volumes bool
	// ContainerIDs, when set, are the only containers the change is
	// about (an event of one container, or of its network endpoint):
	// the rest of the list did not change.
	ContainerIDs []string
	// Wake: a change a pass should look at soon (something died, was
	// removed, disconnected), as opposed to the echo of a change being
	// made (created, started, connected).
	Wake bool
	// Gap: events may have been missed (the stream broke, or was opened
	// again after breaking): every list must be taken again.
	Gap bool
	// Down: the stream is broken and not open again yet; nothing seen
	// until the next Gap without Down may be trusted.
	Down bool
}

// Watch filters: one stream per engine (each stream costs a connection
// and three goroutines, and a fleet's daemon watches a hundred engines).
// The engine ORs values of one filter and ANDs different filters, so the
// managed label cannot be asked of it (network, volume and image events
// carry no labels): change drops the events of containers Rensei does not
// own. Networks and volumes: every create, destroy, connect and disconnect
// comes through, and a foreign object costs a spurious relist. A connect
// or disconnect changes the containers' list (their networks). Image
// events: a tag moved away from the image a container runs makes the
// engine list that container's image by ID.
var watchFilters = []filters.Args{
	filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)), filters.Arg("type", string(events.NetworkEventType)),
		filters.Arg("type", string(events.VolumeEventType)), filters.Arg("type", string(events.ImageEventType)),
		// containers
		filters.Arg("event", "create"), filters.Arg("event", "start"), filters.Arg("event", "restart"),
		filters.Arg("event", "die"), filters.Arg("event", "stop"), filters.Arg("event", "kill"),
		filters.Arg("event", "oom"), filters.Arg("event", "destroy"), filters.Arg("event", "pause"),
		filters.Arg("event", "unpause"), filters.Arg("event", "rename"), filters.Arg("event", "update"),
		// networks and volumes (create, destroy too)
		filters.Arg("event", "connect"), filters.Arg("event", "disconnect"),
		// images
		filters.Arg("event", "tag"), filters.Arg("event", "untag"), filters.Arg("event", "delete"),
		filters.Arg("event", "load"), filters.Arg("event", "pull"), filters.Arg("event", "import"),
	),
}

// change says what an event that passed watchFilters means.
func change(m events.Message) (Change, bool) {
	var c Change
	switch m.Type {
	case events.ContainerEventType:
		if m.Actor.Attributes[drivers.LabelManaged] != "true" {
			return c, false // not Rensei's (container events carry the labels)
		}
		c.Containers = true
		if m.Actor.ID != "" {
			c.ContainerIDs = []string{m.Actor.ID}
		}
		switch m.Action {
		case events.ActionCreate, events.ActionStart, events.ActionRestart, events.ActionUnPause:
		default:
			c.Wake = true // die, stop, kill, oom, destroy, pause, rename, update
		}
	case events.NetworkEventType:
		if predefinedNetworks[m.Actor.Attributes["name"]] {
			return c, false
		}
		var ids []string
		if id := m.Actor.Attributes["container"]; id != "" {
			ids = []string{id}
		}
		switch m.Action {
		case events.ActionConnect:
			c.Containers, c.ContainerIDs = true, ids
		case events.ActionDisconnect:
			c.Containers, c.ContainerIDs, c.Wake = true, ids, true
		case events.ActionDestroy:
			c.Networks, c.Containers, c.Wake = true, true, true
		default:
			c.Networks = true
		}
	case events.VolumeEventType:
		c.Volumes = true
		c.Wake = m.Action == events.ActionDestroy
	case events.ImageEventType:
		c.Containers = true
	default:
		return c, false
	}
	return c, true
}

// Watch follows the engine's events about objects Rensei may own and calls
// on with what each means, from its own goroutines (on must be quick and
// safe for concurrent use; it must not block). It is what a cache of the
// engine's lists needs, where Events only wakes a pass up.
//
// Watch returns once its streams are open (the engine answered their
// requests), so every change made after it returns is reported. A stream
// that breaks reports Change{Gap, Down} and is opened again with bounded
// backoff, then reports Change{Gap}: an engine that restarted lost its
// events, so nothing listed before may be trusted. Watch fails if the
// engine cannot be reached at the start; the goroutines end when ctx does.
func (d *Driver) Watch(ctx context.Context, on func(Change)) error {
	type stream struct {
		msgs   <-chan events.Message
		errs   <-chan error
		cancel context.CancelFunc
	}
	var open []stream
	for _, f := range watchFilters {
		msgs, errs, cancel, err := d.open(ctx, f)
		if err != nil {
			for _, s := range open {
				s.cancel()
			}
			return d.fail("events", "", "watch", err)
		}
		open = append(open, stream{msgs, errs, cancel})
	}
	var mu sync.Mutex
	down := map[int]bool{} // streams broken and not open again
	for i, s := range open {
		go d.follow(ctx, watchFilters[i], s.msgs, s.errs, s.cancel, func(c Change) {
			if c.Gap {
				mu.Lock()
				down[i] = c.Down
				for _, dn := range down {
					c.Down = c.Down || dn // another stream is still broken
				}
				mu.Unlock()
			}
			on(c)
		})
	}
	return nil
}

// open opens one filtered stream. The client returns once the engine
// answered the request (or failed to, or probeTimeout passed).
func (d *Driver) open(ctx context.Context, f filters.Args) (<-chan events.Message, <-chan error, context.CancelFunc, error) {
	sub, cancel := context.WithCancel(ctx)
	// Bounded: an engine that accepts connections but never answers must
	// not hold up the caller (the daemon connects before its first pass).
	timer := time.AfterFunc(probeTimeout, cancel)
	msgs, errs := d.cli.Events(sub, events.ListOptions{Filters: f})
	if !timer.Stop() {
		return nil, nil, nil, fmt.Errorf("no answer within %s: %w", probeTimeout, context.DeadlineExceeded)
	}
	select {
	case err := <-errs:
		cancel()
		if err == nil {
			err = errors.New("event stream closed at once")
		}
		return nil, nil, nil, err
	default:
	}
	return msgs, errs, cancel, nil
}

// follow reads one stream until ctx ends, opening it again when it breaks.
func (d *Driver) follow(ctx context.Context, f filters.Args, msgs <-chan events.Message, errs <-chan error, cancel context.CancelFunc, on func(Change)) {
	backoff := eventsMinBackoff
	for {
	stream:
		for {
			select {
			case <-ctx.Done():
				cancel()
				return
			case m := <-msgs:
				if c, ok := change(m); ok {
					d.log.Debug("engine event", "kind", string(m.Type), "name", m.Actor.Attributes["name"], "action", string(m.Action))
					on(c)
				}
				backoff = eventsMinBackoff
			case err := <-errs:
				if ctx.Err() != nil {
					cancel()
					return
				}
				d.log.Warn("watch: stream broken, reopening", "kind", "events", "action", "watch",
					"err", classify(err), "backoff", backoff)
				break stream
			}
		}
		cancel()
		on(Change{Containers: true, Networks: true, Volumes: true, Gap: true, Down: true, Wake: true})
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, eventsMaxBackoff)
			var err error
			if msgs, errs, cancel, err = d.open(ctx, f); err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			d.log.Debug("watch: stream not open yet", "kind", "events", "action", "watch", "err", classify(err), "backoff", backoff)
		}
		on(Change{Containers: true, Networks: true, Volumes: true, Gap: true, Wake: true})
	}
}
