package fakeengine_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/volume"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/test/fakeengine"
)

func TestVolumes(t *testing.T) {
	e := newEngine(t, fakeengine.Options{})
	d := newDriver(t, e)
	ctx := testCtx(t)
	before := time.Now().Add(-time.Second)
	home := drivers.VolumeSpec{Name: "home", Labels: labels("v1")}
	if err := d.Volumes().Ensure(ctx, home); err != nil {
		t.Fatal(err)
	}
	// Ensure never changes an existing volume, whatever its labels say now.
	home.Labels = labels("v2")
	if err := d.Volumes().Ensure(ctx, home); err != nil {
		t.Fatal(err)
	}
	list, err := d.Volumes().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Labels[drivers.LabelSpecHash] != "v1" || list[0].CreatedAt.Before(before) {
		t.Errorf("listed %+v, want home with its first labels and a CreatedAt", list)
	}

	// Creating an existing volume through the API returns it unchanged.
	cli := newClient(t, e)
	v, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: "home", Labels: map[string]string{"x": "y"}})
	if err != nil || v.Labels["x"] != "" {
		t.Errorf("re-create: %+v, %v", v, err)
	}
	if _, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: "foreign"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Volumes().Ensure(ctx, drivers.VolumeSpec{Name: "foreign", Labels: labels("v1")}); !errors.Is(err, drivers.ErrNotOwned) {
		t.Errorf("Ensure over a foreign volume: %v", err)
	}

	s := spec("web")
	s.Mounts = []drivers.Mount{{Volume: "home", Target: "/home"}}
	if err := d.Containers().Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	mounted, err := d.Volumes().MountedBy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(mounted["home"], []string{"web"}) {
		t.Errorf("MountedBy %v", mounted)
	}
	err = d.Volumes().Delete(ctx, "home")
	if err == nil || !strings.Contains(err.Error(), "remove home: volume is in use - [") {
		t.Errorf("delete in use: %v", err)
	}
	// A stopped container still holds its volumes.
	if err := e.Exit("web", 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Volumes().Delete(ctx, "home"); err == nil {
		t.Error("deleted a volume a stopped container mounts")
	}
	if err := d.Containers().Delete(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if err := d.Volumes().Delete(ctx, "home"); err != nil {
		t.Fatal(err)
	}
	if err := d.Volumes().Delete(ctx, "home"); err != nil {
		t.Errorf("deleting a gone volume: %v", err)
	}
	_, err = cli.VolumeInspect(ctx, "home")
	if err == nil || !strings.Contains(err.Error(), "get home: no such volume") {
		t.Errorf("inspect gone volume: %v", err)
	}
}
