package engine_test

import (
	"maps"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// TestPinsOfRemembers: the pins of the same lists are read once; other
// lists, even of the same length on the same hosts, are read again.
func TestPinsOfRemembers(t *testing.T) {
	ctr := func(name, ip string) drivers.Container {
		return drivers.Container{ID: name, Name: name, Labels: map[string]string{drivers.LabelEnv: "e", drivers.LabelGroup: "g", drivers.LabelInstance: name},
			Networks: map[string]string{"e_lan": ip}}
	}
	vol := drivers.Volume{Name: "e_g_a_home", Labels: map[string]string{drivers.LabelEnv: "e", drivers.LabelGroup: "g", drivers.LabelInstance: "a"}}
	a := plan.Observed{
		"s/h1": {Containers: []drivers.Container{ctr("a", "198.19.0.2")}, Volumes: []drivers.Volume{vol}},
		"s/h2": {Containers: []drivers.Container{ctr("b", "198.19.0.3")}},
	}
	pa := engine.PinsOf(a)
	want := map[string]string{place.AddressKey("a", "e_lan"): "198.19.0.2", place.AddressKey("b", "e_lan"): "198.19.0.3"}
	if d := cmp.Diff(want, pa.Addresses); d != "" || pa.Hosts[place.PinKey("e", "g", "a")] != "s/h1" {
		t.Fatalf("pins %+v (-want +got addresses):\n%s", pa, d)
	}
	// The same lists in another map (a pass answered from memory, a
	// partial pass): the very same answer.
	if again := engine.PinsOf(maps.Clone(a)); !sameMap(again.Addresses, pa.Addresses) {
		t.Error("the same lists were read again")
	}
	// The volume moved to the other host: other lists, other pins.
	b := plan.Observed{
		"s/h1": {Containers: []drivers.Container{ctr("a", "198.19.0.2")}},
		"s/h2": {Containers: []drivers.Container{ctr("b", "198.19.0.9")}, Volumes: []drivers.Volume{vol}},
	}
	pb := engine.PinsOf(b)
	if pb.Hosts[place.PinKey("e", "g", "a")] != "s/h2" || pb.Addresses[place.AddressKey("b", "e_lan")] != "198.19.0.9" {
		t.Errorf("pins of other lists %+v: want a on s/h2 and b at 198.19.0.9", pb)
	}
}

// sameMap reports whether a and b are the same map (not equal: the same).
func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	a["\x00probe"] = "x"
	defer delete(a, "\x00probe")
	return b["\x00probe"] == "x"
}
