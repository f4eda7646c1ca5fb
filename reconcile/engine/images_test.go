package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/fake"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/schema"
)

// TestImagesCopiedBetweenHosts: a host that lacks an image gets it from a
// host of the deployment that has it (the plan says so, and from where);
// an image no host has is pulled, and when that fails only the containers
// needing it fail, naming the image and the host.
func TestImagesCopiedBetweenHosts(t *testing.T) {
	topo := &schema.Topology{
		Sites: []schema.Site{
			{Name: "campus", Hosts: []schema.Host{{Name: "h", Docker: "unix:///fake-1.sock"}}},
			{Name: "cloud", Hosts: []schema.Host{{Name: "h", Docker: "unix:///fake-2.sock"}}},
		},
		Environments: []schema.Environment{{Name: "lab", Groups: []schema.Group{
			{Name: "a", Image: "rensei/notebook:latest", Replicas: 1, Placement: schema.Placement{Sites: []string{"cloud"}}},
			{Name: "b", Image: "rensei/nowhere:latest", Replicas: 1, Placement: schema.Placement{Sites: []string{"cloud"}}},
			{Name: "c", Image: "rensei/busybox:latest", Replicas: 1, Placement: schema.Placement{Sites: []string{"cloud"}}},
		}}},
	}
	if err := schema.Validate(topo); err != nil {
		t.Fatal(err)
	}
	want, err := place.Place(topo, place.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	campus, cloud := fake.New("campus/h"), fake.New("cloud/h")
	campus.SetImages("rensei/notebook:latest", "rensei/busybox:latest")
	cloud.SetImages("rensei/busybox:latest") // air-gapped: no registry either
	hosts := &engine.Hosts{Drivers: map[string]drivers.Host{"campus/h": campus.Drivers(), "cloud/h": cloud.Drivers()}}

	p, _, _ := engine.Plan(context.Background(), want, hosts, nil)
	var images []string
	for _, s := range p.Steps {
		if s.Kind == change.KindImage {
			images = append(images, s.String())
		}
	}
	wantSteps := []string{
		"cloud/h: create image rensei/notebook:latest: missing on this host: copied from campus/h (image " + strings.TrimPrefix(fake.ImageID("rensei/notebook:latest"), "sha256:")[:12] + ")",
		"cloud/h: create image rensei/nowhere:latest: missing on this host and on every other host of the deployment: pulled from its registry",
	}
	if strings.Join(images, "\n") != strings.Join(wantSteps, "\n") {
		t.Errorf("image steps:\n%s\nwant:\n%s", strings.Join(images, "\n"), strings.Join(wantSteps, "\n"))
	}

	out := engine.Pass(context.Background(), want, hosts, engine.Options{})
	failed := map[string]string{}
	for _, f := range out.Applied.Failed {
		failed[string(f.Step.Kind)+" "+f.Step.Name] = f.Err
	}
	if len(failed) != 2 || !strings.Contains(failed["container lab_b_0"], "not made: image rensei/nowhere:latest is not on cloud/h") ||
		!errors.Is(out.Applied.Err(), drivers.ErrImageMissing) {
		t.Errorf("failures: %v", failed)
	}
	if id, err := cloud.Drivers().Images.ID(context.Background(), "rensei/notebook:latest"); err != nil || id != fake.ImageID("rensei/notebook:latest") {
		t.Errorf("notebook image on cloud after the pass: %q, %v", id, err)
	}
	running := map[string]bool{}
	cs, _ := cloud.Drivers().Containers.List(context.Background())
	for _, c := range cs {
		running[c.Name] = c.Running
	}
	if !running["lab_a_0"] || !running["lab_c_0"] || running["lab_b_0"] {
		t.Errorf("containers on cloud: %v; want a and c running, b absent", running)
	}
	// Containers that are there cost no lookup: only b's image is looked
	// up again, on cloud (missing) and then on campus (where it might be).
	before := cloud.Calls["image.inspect"] + campus.Calls["image.inspect"]
	engine.Plan(context.Background(), want, hosts, nil)
	if n := cloud.Calls["image.inspect"] + campus.Calls["image.inspect"] - before; n != 2 {
		t.Errorf("%d image lookups on a pass where only b is missing, want 2", n)
	}
}
