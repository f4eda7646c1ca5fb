package fakeengine

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// eventsLimit is how many past events the engine keeps for since/until
// replay, as dockerd.
const eventsLimit = 256

// subscriberBuffer bounds the events waiting for one slow stream; beyond it
// events are dropped for that stream (dockerd's publisher drops too).
const subscriberBuffer = 1024

// eventLog is the engine's event history and its live subscribers. All
// methods need e.mu held.
type eventLog struct {
	ring   []events.Message // circular once full; oldest at ring[next]
	next   int
	subs   map[*subscriber]struct{}
	closed bool
}

// past returns the kept events, oldest first.
func (l *eventLog) past() []events.Message {
	return append(slices.Clone(l.ring[l.next:]), l.ring[:l.next]...)
}

// subscriber is one open /events stream.
type subscriber struct {
	f  filters.Args
	ch chan events.Message // closed when the engine closes
}

// publish records an event and hands it to every matching subscriber.
func (l *eventLog) publish(typ events.Type, action events.Action, id string, attrs map[string]string) {
	now := time.Now().UTC()
	m := events.Message{
		Type: typ, Action: action, Actor: events.Actor{ID: id, Attributes: attrs},
		Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano(),
	}
	switch typ {
	case events.ContainerEventType:
		//lint:ignore SA1019 dockerd still fills the legacy fields on API 1.41
		m.ID, m.Status, m.From = id, string(action), attrs["image"]
	case events.ImageEventType:
		//lint:ignore SA1019 dockerd still fills the legacy fields on API 1.41
		m.ID, m.Status = id, string(action)
	}
	if len(l.ring) < eventsLimit {
		l.ring = append(l.ring, m)
	} else {
		l.ring[l.next] = m
		l.next = (l.next + 1) % eventsLimit
	}
	for s := range l.subs {
		if eventIncluded(s.f, m) {
			select {
			case s.ch <- m:
			default:
			}
		}
	}
}

// subscribe opens a stream: the past events in [since, until] that match
// (none when both are zero, as dockerd) and a subscriber for new ones.
func (l *eventLog) subscribe(f filters.Args, since, until time.Time) ([]events.Message, *subscriber) {
	var past []events.Message
	if !since.IsZero() || !until.IsZero() {
		for _, m := range l.past() {
			if m.TimeNano < since.UnixNano() || !until.IsZero() && m.TimeNano > until.UnixNano() {
				continue
			}
			if eventIncluded(f, m) {
				past = append(past, m)
			}
		}
	}
	s := &subscriber{f: f, ch: make(chan events.Message, subscriberBuffer)}
	if l.closed {
		close(s.ch)
		return past, s
	}
	if l.subs == nil {
		l.subs = map[*subscriber]struct{}{}
	}
	l.subs[s] = struct{}{}
	return past, s
}

func (l *eventLog) unsubscribe(s *subscriber) { delete(l.subs, s) }

// closeAll ends every stream; later subscribers get a closed channel.
func (l *eventLog) closeAll() {
	l.closed = true
	for s := range l.subs {
		close(s.ch)
	}
	clear(l.subs)
}

// streamEvents serves GET /events: headers are flushed at once (the client
// waits for them), then past events when since/until ask for them, then
// live events until the client disconnects, until passes, or the engine
// goes down or closes.
func (e *Engine) streamEvents(w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	since, err := eventTime(q.Get("since"))
	if err != nil {
		return err
	}
	until, err := eventTime(q.Get("until"))
	if err != nil {
		return err
	}
	if !until.IsZero() && until.Before(since) {
		return errInvalid("`since` time (%s) cannot be after `until` time (%s)", q.Get("since"), q.Get("until"))
	}
	f, err := filters.FromJSON(q.Get("filters"))
	if err != nil {
		return errInvalid("%v", err)
	}
	var timeout <-chan time.Time
	onlyPast := !until.IsZero() && until.Before(time.Now())
	if !until.IsZero() && !onlyPast {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		timeout = t.C
	}

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flush := func() {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
	}
	flush()
	enc := json.NewEncoder(w)

	e.mu.Lock()
	past, sub := e.events.subscribe(f, since, until)
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.events.unsubscribe(sub)
		e.mu.Unlock()
	}()
	for _, m := range past {
		if err := enc.Encode(m); err != nil {
			return nil
		}
	}
	flush()
	if onlyPast {
		return nil
	}
	for {
		select {
		case m, ok := <-sub.ch:
			if !ok {
				return nil
			}
			if err := enc.Encode(m); err != nil {
				return nil
			}
			flush()
		case <-timeout:
			return nil
		case <-r.Context().Done():
			return nil
		case <-e.done:
			return nil
		}
	}
}

// eventTime parses since/until: "seconds[.nanoseconds]" as the client
// sends them, or RFC 3339.
func eventTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	secStr, nsStr, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secStr, 10, 64)
	if err != nil {
		return time.Time{}, errInvalid("invalid timestamp %q", s)
	}
	var ns int64
	if nsStr != "" {
		nsStr = (nsStr + "000000000")[:9]
		if ns, err = strconv.ParseInt(nsStr, 10, 64); err != nil {
			return time.Time{}, errInvalid("invalid timestamp %q", s)
		}
	}
	return time.Unix(sec, ns), nil
}

// EventLog returns the engine's last events (at most 256, oldest first),
// as a since-replay would see them.
func (e *Engine) EventLog() []events.Message {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.events.past()
}
