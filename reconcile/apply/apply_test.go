package apply_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/fake"
	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

func containerStep(host, name, image string) plan.Step {
	return plan.Step{Ref: change.Ref{Host: host, Kind: change.KindContainer, Name: name}, Action: change.Create, Phase: plan.PhaseContainers,
		Container: &drivers.ContainerSpec{Name: name, Image: image, Labels: map[string]string{drivers.LabelManaged: "true", drivers.LabelSpecHash: "h"}}}
}

// TestKeepsGoing: a failed step (missing image, injected error) does not
// stop the others, and the error names what failed and where.
func TestKeepsGoing(t *testing.T) {
	a, b := fake.New("site/a"), fake.New("site/b")
	a.SetImages("good")
	b.FailNext("container", "y2", errors.New("disk full"))
	p := plan.Plan{Steps: []plan.Step{
		containerStep("site/a", "x1", "good"),
		containerStep("site/a", "x2", "missing"),
		containerStep("site/a", "x3", "good"),
		containerStep("site/b", "y1", "any"),
		containerStep("site/b", "y2", "any"),
		{Ref: change.Ref{Host: "site/b", Kind: change.KindVolume, Name: "v"}, Action: change.Keep, Reason: "kept"},
	}}
	res, err := apply.Apply(context.Background(), p, map[string]drivers.Host{"site/a": a.Drivers(), "site/b": b.Drivers()}, apply.Options{Parallel: 2})
	if err == nil {
		t.Fatal("no error")
	}
	if !errors.Is(err, drivers.ErrImageMissing) {
		t.Errorf("error does not wrap ErrImageMissing: %v", err)
	}
	for _, want := range []string{"create container x2 on site/a", "image missing", "create container y2 on site/b", "disk full"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if len(res.Done) != 3 || len(res.Failed) != 2 {
		t.Fatalf("done %d, failed %d; want 3 and 2", len(res.Done), len(res.Failed))
	}
	for _, want := range []string{"container x1", "container x3"} {
		if !strings.Contains(a.Render(), want) {
			t.Errorf("site/a lacks %s:\n%s", want, a.Render())
		}
	}
}

// TestPhasesInOrder: networks exist before containers that need them, and
// stale networks go after their containers.
func TestPhasesInOrder(t *testing.T) {
	h := fake.New("s/h")
	d := h.Drivers()
	ctx := context.Background()
	old := drivers.NetworkSpec{Name: "old", Bridge: "rs-br-1", Labels: map[string]string{drivers.LabelManaged: "true", drivers.LabelSpecHash: "1"}}
	if err := d.Networks.Ensure(ctx, old); err != nil {
		t.Fatal(err)
	}
	oldC := containerStep("s/h", "oldc", "img").Container
	oldC.Networks = []drivers.NetworkAttach{{Network: "old"}}
	if err := d.Containers.Ensure(ctx, *oldC); err != nil {
		t.Fatal(err)
	}
	newNet := drivers.NetworkSpec{Name: "new", Bridge: "rs-br-2", Labels: map[string]string{drivers.LabelManaged: "true", drivers.LabelSpecHash: "2"}}
	c := containerStep("s/h", "c", "img")
	c.Container.Networks = []drivers.NetworkAttach{{Network: "new"}}
	p := plan.Plan{Steps: []plan.Step{
		{Ref: change.Ref{Host: "s/h", Kind: change.KindNetwork, Name: "new"}, Action: change.Create, Phase: plan.PhaseNetworks, Network: &newNet},
		c,
		{Ref: change.Ref{Host: "s/h", Kind: change.KindContainer, Name: "oldc"}, Action: change.Delete, Phase: plan.PhaseDeleteContainers},
		{Ref: change.Ref{Host: "s/h", Kind: change.KindNetwork, Name: "old"}, Action: change.Delete, Phase: plan.PhaseDeleteNetworks},
	}}
	if _, err := apply.Apply(ctx, p, map[string]drivers.Host{"s/h": d}, apply.Options{Parallel: 4}); err != nil {
		t.Fatalf("%v\n%s", err, h.Render())
	}
	want := "host s/h\n  network new bridge=rs-br-2 subnet= range= gw= mtu=0 owned=true\n  container c image=img running=true owned=true\n"
	if got := h.Render(); got != want {
		t.Fatalf("state:\n%s\nwant:\n%s", got, want)
	}
}

func TestCancelledStartsNothing(t *testing.T) {
	h := fake.New("s/h")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := apply.Apply(ctx, plan.Plan{Steps: []plan.Step{containerStep("s/h", "c", "img")}}, map[string]drivers.Host{"s/h": h.Drivers()}, apply.Options{})
	if !errors.Is(err, context.Canceled) || len(res.Done) != 0 {
		t.Fatalf("err %v, done %d", err, len(res.Done))
	}
	if strings.Contains(h.Render(), "container") {
		t.Fatalf("a container was created:\n%s", h.Render())
	}
}
