package status

import (
	"reflect"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/change"
)

// TestKeptIsReport: what a publisher keeps of a report (without its
// items) tells a new report superseding it as the report itself would:
// for a change of any field of any item, for lists as long or not, for a
// clean pass after a repair, times aside.
func TestKeptIsReport(t *testing.T) {
	t0 := time.Date(2027, 4, 1, 9, 0, 0, 0, time.UTC)
	item := func(name string) Item {
		return Item{Kind: change.KindContainer, Name: name, Env: "cs101", Group: "ws", Action: change.Create, Code: change.Blocked, Reason: "absent", Error: "boom"}
	}
	repair := Report{Host: "h", Site: "a", Commit: "abc", Time: t0, Converged: true,
		Drift: []Item{item("x"), item("y")}, Applied: []Item{item("x"), item("y")}, Failed: []Item{item("z")}}
	cases := map[string]Report{"itself": repair}
	later := repair
	later.Time = t0.Add(time.Hour)
	cases["later"] = later
	clean := Report{Host: "h", Site: "a", Commit: "abc", Time: t0, Converged: true}
	cases["clean"] = clean
	noFailure := repair
	noFailure.Failed = nil
	cases["no failure"] = noFailure
	if n := reflect.TypeOf(Item{}).NumField(); n != 8 {
		t.Fatalf("Item has %d fields, itemsDigest digests 8: add the new one to it", n)
	}
	for _, list := range []string{"Drift", "Applied", "Failed"} {
		v := reflect.ValueOf(&repair).Elem().FieldByName(list)
		for f := range reflect.TypeOf(Item{}).NumField() {
			c := repair
			items := append([]Item(nil), v.Interface().([]Item)...)
			reflect.ValueOf(&items[0]).Elem().Field(f).SetString(reflect.ValueOf(items[0]).Field(f).String() + "!")
			reflect.ValueOf(&c).Elem().FieldByName(list).Set(reflect.ValueOf(items))
			cases[list+" item field "+reflect.TypeOf(Item{}).Field(f).Name] = c
		}
		c := repair
		reflect.ValueOf(&c).Elem().FieldByName(list).Set(reflect.ValueOf([]Item{}))
		cases[list+" empty"] = c
	}
	swapped := repair
	swapped.Drift = []Item{item("y"), item("x")}
	cases["items in another order"] = swapped
	moved := repair
	moved.Drift, moved.Applied = []Item{item("x")}, []Item{item("x"), item("y"), item("y")}
	cases["an item from one list to another"] = moved

	for _, prev := range []Report{repair, clean, noFailure} {
		k := keep(prev)
		if k.head.Drift != nil || k.head.Applied != nil || k.head.Failed != nil {
			t.Fatal("items kept")
		}
		for name, r := range cases {
			if got, want := k.supersededBy(r), r.Supersedes(&prev); got != want {
				t.Errorf("after %s: %s supersedes the kept report: %v, the report: %v", prev.Summary(), name, got, want)
			}
			if got, want := k.same(r), r.Same(prev); got != want {
				t.Errorf("after %s: %s is the same as the kept report: %v, as the report: %v", prev.Summary(), name, got, want)
			}
		}
	}
}
