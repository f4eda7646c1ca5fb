package status_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/status"
)

// full is a report with every field set, lists of two.
func full() status.Report {
	t0 := time.Date(2027, 4, 1, 9, 0, 0, 0, time.UTC)
	item := func(name string) status.Item {
		return status.Item{Kind: change.KindContainer, Name: name, Env: "cs101", Group: "ws", Action: change.Create, Code: change.Blocked, Reason: "absent", Error: "boom"}
	}
	link := func(peer string) status.Link {
		return status.Link{Peer: peer, Network: "cs101/lan", OK: true, MTUOK: true, MTU: 1450, Since: t0, Error: "e", Repaired: "r"}
	}
	return status.Report{Host: "h", Site: "a", Commit: "abc", Time: t0, Converged: true,
		Drift: []status.Item{item("x"), item("y")}, Applied: []status.Item{item("x"), item("y")}, Failed: []status.Item{item("x"), item("y")},
		Error: "err", Refused: &status.Refusal{Commit: "def", Reason: "bad", Held: true, Awaiting: "prune"},
		Warnings: []string{"w1", "w2"}, Links: []status.Link{link("b/h"), link("c/h")}}
}

// timelessJSON is what Same promised before it compared fields: the JSON
// of the report with its time and its links' Since zeroed.
func timelessJSON(r status.Report) []byte {
	r.Time = time.Time{}
	r.Links = append([]status.Link(nil), r.Links...)
	for i := range r.Links {
		r.Links[i].Since = time.Time{}
	}
	return r.JSON()
}

// variants returns copies of r each with one leaf changed (every string,
// bool, number and time of every field, nested ones included), each list
// nil, empty, shortened, and each pointer nil: every field Same must see,
// and the ones it must not (times).
func variants(r status.Report) []status.Report {
	var out []status.Report
	var walk func(path []int, v reflect.Value)
	mutate := func(path []int, f func(v reflect.Value)) {
		c := deepCopy(r)
		v := reflect.ValueOf(&c).Elem()
		for _, i := range path {
			switch v.Kind() {
			case reflect.Struct:
				v = v.Field(i)
			case reflect.Slice:
				v = v.Index(i)
			case reflect.Pointer:
				v = v.Elem()
			}
		}
		f(v)
		out = append(out, c)
	}
	walk = func(path []int, v reflect.Value) {
		at := append([]int(nil), path...)
		switch {
		case v.Type() == reflect.TypeOf(time.Time{}):
			mutate(at, func(v reflect.Value) { v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Hour))) })
		case v.Kind() == reflect.String:
			mutate(at, func(v reflect.Value) { v.SetString(v.String() + "!") })
		case v.Kind() == reflect.Bool:
			mutate(at, func(v reflect.Value) { v.SetBool(!v.Bool()) })
		case v.Kind() == reflect.Int:
			mutate(at, func(v reflect.Value) { v.SetInt(v.Int() + 1) })
		case v.Kind() == reflect.Struct:
			for i := range v.NumField() {
				walk(append(at, i), v.Field(i))
			}
		case v.Kind() == reflect.Slice:
			mutate(at, func(v reflect.Value) { v.Set(reflect.Zero(v.Type())) })
			mutate(at, func(v reflect.Value) { v.Set(reflect.MakeSlice(v.Type(), 0, 0)) })
			mutate(at, func(v reflect.Value) { v.Set(v.Slice(0, v.Len()-1)) })
			for i := range v.Len() {
				walk(append(at, i), v.Index(i))
			}
		case v.Kind() == reflect.Pointer:
			mutate(at, func(v reflect.Value) { v.Set(reflect.Zero(v.Type())) })
			walk(append(at, 0), v.Elem())
		}
	}
	walk(nil, reflect.ValueOf(r))
	return out
}

// deepCopy copies r's lists and pointers, so a variant never changes r.
func deepCopy(r status.Report) status.Report {
	r.Drift = append([]status.Item(nil), r.Drift...)
	r.Applied = append([]status.Item(nil), r.Applied...)
	r.Failed = append([]status.Item(nil), r.Failed...)
	r.Warnings = append([]string(nil), r.Warnings...)
	r.Links = append([]status.Link(nil), r.Links...)
	if r.Refused != nil {
		ref := *r.Refused
		r.Refused = &ref
	}
	return r
}

// TestSameIsTimelessJSON: Same compares reports field by field; it must
// agree with comparing their JSON, times aside, for a change of any field
// (a field added to Report and forgotten by Same fails here).
func TestSameIsTimelessJSON(t *testing.T) {
	base := full()
	vs := variants(base)
	if len(vs) < 60 {
		t.Fatalf("only %d variants", len(vs))
	}
	differ := 0
	for i, v := range vs {
		want := bytes.Equal(timelessJSON(base), timelessJSON(v))
		if got := base.Same(v); got != want {
			t.Errorf("variant %d: Same %v, JSON equal %v:\n%s", i, got, want, v.JSON())
		}
		if got := v.Same(base); got != want {
			t.Errorf("variant %d, the other way: Same %v, JSON equal %v", i, got, want)
		}
		if !want {
			differ++
		}
	}
	if differ == 0 || differ == len(vs) {
		t.Errorf("%d of %d variants differ: the test does not test", differ, len(vs))
	}
	// Lists: nil and empty are the same, as in JSON.
	a, b := base, base
	a.Drift, a.Warnings, a.Links = nil, nil, nil
	b.Drift, b.Warnings, b.Links = []status.Item{}, []string{}, []status.Link{}
	if !a.Same(b) || !bytes.Equal(timelessJSON(a), timelessJSON(b)) {
		t.Error("nil and empty lists differ")
	}
	// Round trip: a report read back from the branch is the same.
	var back status.Report
	if err := json.Unmarshal(base.JSON(), &back); err != nil {
		t.Fatal(err)
	}
	if !base.Same(back) {
		t.Errorf("a report decoded from its JSON is not the same:\n%s", back.JSON())
	}
}

func BenchmarkSame(b *testing.B) {
	r, o := full(), full()
	o.Time = o.Time.Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if !r.Same(o) {
			b.Fatal("not the same")
		}
	}
}

// TestPublishAfterRepair: the publisher keeps no items of the reports it
// wrote, yet tells them apart: a clean pass after a repair is not written
// (the repair stays the record), a report with as many items but another
// reason is, and so is a later repair.
func TestPublishAfterRepair(t *testing.T) {
	ctx := context.Background()
	p := publisher(t, bare(t))
	repair := sample("site-a/docker", "c1", 3)
	if n, err := p.Publish(ctx, []status.Report{repair}); err != nil || n != 1 {
		t.Fatalf("repair: %d, %v", n, err)
	}
	clean := sample("site-a/docker", "c1", 0)
	if n, err := p.Publish(ctx, []status.Report{clean}); err != nil || n != 0 {
		t.Errorf("clean after the repair: %d written, %v", n, err)
	}
	other := sample("site-a/docker", "c1", 3)
	other.Drift[1].Reason = "image changed"
	if n, err := p.Publish(ctx, []status.Report{other}); err != nil || n != 1 {
		t.Errorf("as many items, another reason: %d written, %v", n, err)
	}
	if n, err := p.Publish(ctx, []status.Report{repair}); err != nil || n != 1 {
		t.Errorf("the first repair again: %d written, %v", n, err)
	}
}
