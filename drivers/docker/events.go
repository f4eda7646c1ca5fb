package docker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/rensei-dev/rensei/drivers"
)

// Event subscriptions. Container events carry the container's labels, so
// the engine filters them to owned containers. Network and volume events
// carry no labels at all (the engine matches a label filter against event
// attributes), so they are taken for every network and volume: a foreign
// object only costs a spurious, cheap wake-up.
var eventFilters = []filters.Args{
	filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("label", drivers.LabelManaged+"=true"),
		filters.Arg("event", "die"), filters.Arg("event", "stop"), filters.Arg("event", "kill"),
		filters.Arg("event", "oom"), filters.Arg("event", "destroy"), filters.Arg("event", "pause"),
		filters.Arg("event", "rename"), filters.Arg("event", "update"),
	),
	filters.NewArgs(
		filters.Arg("type", string(events.NetworkEventType)),
		filters.Arg("event", "destroy"), filters.Arg("event", "disconnect"),
	),
	filters.NewArgs(
		filters.Arg("type", string(events.VolumeEventType)),
		filters.Arg("event", "destroy"),
	),
}

// Reconnect backoff of an event stream that broke (engine restart, ssh).
const (
	eventsMinBackoff = 500 * time.Millisecond
	eventsMaxBackoff = 30 * time.Second
)

// Events returns a channel that receives a value soon after something
// happened to an object Rensei may own (a container died or was removed, a
// network was destroyed or disconnected, ...). Notifications are coalesced:
// the channel holds at most one, and a burst of events while it is full is
// one wake-up. It is closed when ctx ends.
//
// Each stream asks the engine to replay from a moment just before it was
// opened (eventsReplay), so an event between this call and the stream being
// established is not lost; a broken stream is reopened the same way, with
// bounded backoff, and also sends a notification, since an engine restart
// loses its event log. Events fails only if the engine cannot be reached at
// the start.
func (d *Driver) Events(ctx context.Context) (<-chan struct{}, error) {
	// Bounded: an engine that accepts connections but never answers must
	// not hold up the caller (the daemon connects before its first pass).
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	_, err := d.cli.Ping(pctx)
	cancel()
	if err != nil {
		return nil, d.fail("events", "", "subscribe", err)
	}
	since := time.Now().Add(-eventsReplay)
	out := make(chan struct{}, 1)
	var wg sync.WaitGroup
	for _, f := range eventFilters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.watch(ctx, f, since, out)
		}()
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out, nil
}

// eventsReplay is how far back a (re)opened stream starts. It also absorbs
// a little clock skew between this machine and a remote engine; the price
// is at most one spurious wake-up.
const eventsReplay = time.Second

// predefinedNetworks are the engine's own networks, which Rensei never owns.
// Their events (every container on the default bridge disconnects from it
// when it dies) are dropped here, since the engine cannot filter them by label.
var predefinedNetworks = map[string]bool{"bridge": true, "host": true, "none": true}

// watch follows one filtered event stream until ctx ends.
func (d *Driver) watch(ctx context.Context, f filters.Args, since time.Time, out chan<- struct{}) {
	backoff := eventsMinBackoff
	for {
		sub, cancel := context.WithCancel(ctx)
		msgs, errs := d.cli.Events(sub, events.ListOptions{Filters: f, Since: unixNano(since)})
	stream:
		for {
			select {
			case <-ctx.Done():
				cancel()
				return
			case m := <-msgs:
				if !relevant(m) {
					continue
				}
				d.log.Debug("engine event", "kind", string(m.Type), "name", m.Actor.Attributes["name"], "action", string(m.Action))
				notify(out)
				backoff = eventsMinBackoff
			case err := <-errs:
				if ctx.Err() != nil {
					cancel()
					return
				}
				d.log.Warn("events: stream broken, reopening", "kind", "events", "action", "subscribe",
					"err", classify(err), "backoff", backoff)
				break stream
			}
		}
		cancel()
		since = time.Now().Add(-eventsReplay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, eventsMaxBackoff)
		notify(out)
	}
}

// relevant reports whether an event that passed the engine's filter may
// concern an owned object.
func relevant(m events.Message) bool {
	return m.Type != events.NetworkEventType || !predefinedNetworks[m.Actor.Attributes["name"]]
}

// unixNano formats t the way the events API takes "since".
func unixNano(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }

// notify sends a wake-up unless one is already pending.
func notify(out chan<- struct{}) {
	select {
	case out <- struct{}{}:
	default:
	}
}
