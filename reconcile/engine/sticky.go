package engine

import (
	"context"
	"maps"
	"slices"
	"sync"
	"unsafe"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// Placer places a revision again with pins (Revision.AtPinned at the
// pass's time).
type Placer func(pins place.Pins) (*place.Desired, error)

// PinsOf reads what instances hold where from the hosts: an instance
// with an owned volume on a host is pinned to it (when its volumes are on
// several hosts, placed elsewhere before pins existed, the host running
// its container wins, else the first host by key); a container's address
// on each network is pinned to it (kept when it is a static one).
//
// The pins are shared with the callers that read the same lists (the
// answer is remembered for the lists it was read from): never change them.
func PinsOf(obs plan.Observed) place.Pins {
	from := make([]listsOf, 0, len(obs))
	for _, key := range slices.Sorted(maps.Keys(obs)) {
		st := obs[key]
		from = append(from, listsOf{key, unsafe.SliceData(st.Containers), len(st.Containers), unsafe.SliceData(st.Volumes), len(st.Volumes)})
	}
	lastPins.Lock()
	defer lastPins.Unlock()
	if !slices.Equal(lastPins.from, from) {
		lastPins.from, lastPins.pins = from, readPins(obs)
	}
	return lastPins.pins
}

// lastPins is the last answer of PinsOf and the lists it read. Observations
// share lists: a pass answered from memory, a partial pass and the daemon
// reading a pass's observation read the same ones, and reading 30,000
// containers' pins took 35-70 ms.
var lastPins struct {
	sync.Mutex
	from []listsOf
	pins place.Pins
}

// listsOf names the lists of one host by identity (the same array, the
// same length: the same list, as lists are never changed once observed).
type listsOf struct {
	key        string
	containers *drivers.Container
	nc         int
	volumes    *drivers.Volume
	nv         int
}

func readPins(obs plan.Observed) place.Pins {
	pins := place.Pins{Hosts: map[string]string{}, Addresses: map[string]string{}}
	running := map[string]string{}
	for _, key := range slices.Sorted(maps.Keys(obs)) {
		for _, c := range obs[key].Containers {
			l := c.Labels
			running[place.PinKey(l[drivers.LabelEnv], l[drivers.LabelGroup], l[drivers.LabelInstance])] = key
			for n, ip := range c.Networks {
				if ip != "" {
					pins.Addresses[place.AddressKey(c.Name, n)] = ip
				}
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(obs)) {
		for _, v := range obs[key].Volumes {
			l := v.Labels
			if l[drivers.LabelInstance] == "" {
				continue // an environment's shared volume: on every host that needs it
			}
			k := place.PinKey(l[drivers.LabelEnv], l[drivers.LabelGroup], l[drivers.LabelInstance])
			if _, seen := pins.Hosts[k]; !seen || running[k] == key {
				pins.Hosts[k] = key
			}
		}
	}
	return pins
}

// settle observes the connected hosts and, when what they hold pins an
// instance elsewhere than want places it, places again with those pins
// (and observes again, for the names the new placement uses). It returns
// the desired state (all hosts) and the observation of the connected ones.
func settle(ctx context.Context, want *place.Desired, hosts *Hosts, replace Placer) (*place.Desired, plan.Observed) {
	obs := ObserveFor(ctx, hosts.Drivers, hosts.Scope, hosts.Only(want))
	pinned, again := settleOn(want, obs, replace)
	if !again {
		return want, obs
	}
	return pinned, ObserveFor(ctx, hosts.Drivers, hosts.Scope, hosts.Only(pinned))
}

// settleOn is want placed again with the pins of obs when replace is set
// and want does not agree with them (again true), else want.
func settleOn(want *place.Desired, obs plan.Observed, replace Placer) (*place.Desired, bool) {
	if replace == nil {
		return want, false
	}
	pins := PinsOf(obs)
	if want.Agrees(pins) {
		return want, false
	}
	pinned, err := replace(pins)
	if err != nil {
		return want, false // the revision placed without pins; it placed with them before
	}
	return pinned, true
}
