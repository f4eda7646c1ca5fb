package place

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/schema"
)

// hostsOf maps container name → host key.
func hostsOf(d *Desired) map[string]string {
	out := map[string]string{}
	for _, h := range d.Hosts {
		for _, c := range h.Containers {
			out[c.Name] = h.Key
		}
	}
	return out
}

// pinsFrom pins every student of d where d placed it, as the hosts'
// volumes would after d was applied.
func pinsFrom(d *Desired) Pins {
	pins := Pins{Hosts: map[string]string{}}
	for name, host := range hostsOf(d) {
		if inst, ok := strings.CutPrefix(name, "cs101_student_"); ok {
			pins.Hosts[PinKey("cs101", "student", inst)] = host
		}
	}
	return pins
}

// TestPinsKeepDataWhenHostsChange: a host added mid-semester moves
// students without pins, and none with them; new students still use the
// new host. A host removed moves its students elsewhere with a Move each,
// and nobody else.
func TestPinsKeepDataWhenHostsChange(t *testing.T) {
	members := make([]string, 60)
	for i := range members {
		members[i] = fmt.Sprintf("s%02d", i)
	}
	small := sites(1)
	before := mustPlace(t, &schema.Topology{Sites: small, Environments: []schema.Environment{course(members)}})
	pins := pinsFrom(before)

	grown := sites(2) // a second host at every site
	topo := &schema.Topology{Sites: grown, Environments: []schema.Environment{course(append(members, "new0", "new1", "new2", "new3", "new4", "new5"))}}
	unpinned := mustPlace(t, topo)
	moved := 0
	for name, host := range hostsOf(before) {
		if hostsOf(unpinned)[name] != host {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("adding hosts moved nobody even without pins: the test proves nothing")
	}
	pinned, err := Place(topo, Options{Now: now, Pins: pins})
	if err != nil {
		t.Fatal(err)
	}
	after := hostsOf(pinned)
	for name, host := range hostsOf(before) {
		if strings.HasPrefix(name, "cs101_student_") && after[name] != host {
			t.Errorf("%s moved from %s to %s despite its pin", name, host, after[name])
		}
	}
	onNew := 0
	for _, n := range []string{"new0", "new1", "new2", "new3", "new4", "new5"} {
		if strings.HasSuffix(after["cs101_student_"+n], "/h1") {
			onNew++
		}
	}
	if onNew == 0 {
		t.Error("no new student on a new host: pins froze the placement")
	}
	if len(pinned.Moves) != 0 || !pinned.Agrees(pins) {
		t.Errorf("moves %v, agrees %v; want none and true", pinned.Moves, pinned.Agrees(pins))
	}
	if unpinned.Agrees(pins) {
		t.Error("the unpinned placement agrees with pins it breaks")
	}
	t.Logf("60 students, 3 → 6 hosts: %d moved without pins, 0 with", moved)

	// The cloud site's host goes away: its students move, each with a Move.
	var shrunk []schema.Site
	for _, s := range small {
		if s.Name != "cloud" {
			shrunk = append(shrunk, s)
		}
	}
	gone := &schema.Topology{Sites: shrunk, Environments: []schema.Environment{course(members)}}
	d, err := Place(gone, Options{Now: now, Pins: pins})
	if err != nil {
		t.Fatal(err)
	}
	onCloud := 0
	for _, host := range pins.Hosts {
		if host == "cloud/h0" {
			onCloud++
		}
	}
	if len(d.Moves) != onCloud || onCloud == 0 {
		t.Fatalf("%d moves, want one per student on cloud/h0 (%d)", len(d.Moves), onCloud)
	}
	for _, m := range d.Moves {
		if m.From != "cloud/h0" || m.To == "" || m.Why != "is no longer in the configuration" {
			t.Errorf("move %+v", m)
		}
		if !strings.Contains(m.String(), "new, empty volumes (the old ones are kept)") {
			t.Errorf("move text: %s", m)
		}
	}
	if !d.Agrees(pins) {
		t.Error("a placement with its moves recorded does not agree with the pins it was made with")
	}
	for name, host := range hostsOf(before) {
		if host != "cloud/h0" && strings.HasPrefix(name, "cs101_student_") && hostsOf(d)[name] != host {
			t.Errorf("%s moved from %s although its host stayed", name, host)
		}
	}
}
