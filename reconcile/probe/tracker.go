package probe

import (
	"maps"
	"slices"
	"time"
)

// State is what is known of one link now.
type State struct {
	Link
	OK    bool          `json:"ok"`
	MTUOK bool          `json:"mtuOk"`
	RTT   time.Duration `json:"rtt"` // of the last small echo that came back
	Error string        `json:"error,omitempty"`
	// Since is when the link entered its condition (Condition).
	Since time.Time `json:"since"`
	// Checked is when it was last probed (zero: never).
	Checked time.Time `json:"checked,omitzero"`
	// Repaired names a fault of the host's own state found broken in
	// this pass and repaired by it (see Tracker.Fault).
	Repaired string `json:"repaired,omitempty"`
	fault    string // found broken by Fault, not probed since
}

// Healthy reports whether both echoes came back.
func (s State) Healthy() bool { return s.OK && s.MTUOK }

// Condition is one word: ok, mtu (full-size packets are lost) or down.
func (s State) Condition() string {
	switch {
	case !s.OK:
		return "down"
	case !s.MTUOK:
		return "mtu"
	}
	return "ok"
}

// Change is a link whose condition changed.
type Change struct {
	State
	From string `json:"from"` // the condition before ("" for a link seen first)
}

// Tracker keeps the state of every link across rounds. It is not safe
// for concurrent use.
type Tracker struct {
	links   map[string]*State
	version uint64
}

// Version changes whenever the state of a link may have changed: a round
// recorded, a fault, a link forgotten, a repair forgotten. What is made
// of the links (reports, views) need not be made again while it is the
// same.
func (t *Tracker) Version() uint64 { return t.version }

// NewTracker returns a tracker that knows no link.
func NewTracker() *Tracker { return &Tracker{links: map[string]*State{}} }

// Retain forgets the links not in links (an environment or host gone).
func (t *Tracker) Retain(links []Link) {
	keep := map[string]bool{}
	for _, l := range links {
		keep[l.Key()] = true
	}
	for k := range t.links {
		if !keep[k] {
			delete(t.links, k)
			t.version++
		}
	}
}

// BeginPass forgets what the previous pass repaired: a repair is reported
// by the pass that made it.
func (t *Tracker) BeginPass() {
	for _, s := range t.links {
		if s.Repaired != "" {
			s.Repaired = ""
			t.version++
		}
	}
}

// Fault records a link found broken in its host's own state at now (see
// Faults). When the next probe finds it healthy, the fault is what was
// repaired.
func (t *Tracker) Fault(l Link, why string, now time.Time) *Change {
	t.version++
	s, seen := t.links[l.Key()]
	if !seen {
		s = &State{Link: l, Since: now}
		t.links[l.Key()] = s
	}
	from := ""
	if seen {
		from = s.Condition()
	}
	s.Link, s.fault, s.Error = l, why, why
	s.OK, s.MTUOK = false, false
	if from != "down" {
		s.Since = now
		return &Change{State: *s, From: from}
	}
	return nil
}

// Update records a round's results at now and returns the links whose
// condition changed (a link seen for the first time is a change only
// when it is not healthy).
func (t *Tracker) Update(results []Result, now time.Time) []Change {
	t.version++
	var out []Change
	for _, r := range results {
		s, seen := t.links[r.Key()]
		if !seen {
			s = &State{Link: r.Link, Since: now}
			t.links[r.Key()] = s
		}
		from := s.Condition()
		wasFault := s.fault
		s.Link, s.OK, s.MTUOK, s.Error, s.Checked, s.fault = r.Link, r.OK, r.MTUOK, r.Error, r.At, ""
		if r.OK {
			s.RTT = r.RTT
		}
		if wasFault != "" && s.Healthy() {
			s.Repaired = wasFault
		}
		switch {
		case !seen && s.Healthy():
		case !seen:
			out = append(out, Change{State: *s})
		case from != s.Condition():
			s.Since = now
			if wasFault == "" {
				s.Repaired = "" // a repair is past once the link changes again
			}
			out = append(out, Change{State: *s, From: from})
		}
	}
	return out
}

// Failing reports whether some link is not healthy.
func (t *Tracker) Failing() bool {
	for _, s := range t.links {
		if !s.Healthy() {
			return true
		}
	}
	return false
}

// All returns every link's state sorted by host, network and peer.
func (t *Tracker) All() []State {
	out := make([]State, 0, len(t.links))
	for _, k := range slices.Sorted(maps.Keys(t.links)) {
		out = append(out, *t.links[k])
	}
	return out
}

// Host returns the states of the links host probes, sorted by network and peer.
func (t *Tracker) Host(host string) []State {
	var out []State
	for _, s := range t.All() {
		if s.Host == host {
			out = append(out, s)
		}
	}
	return out
}
