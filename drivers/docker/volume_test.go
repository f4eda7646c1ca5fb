package docker

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/drivers"
)

func TestVolumes(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	vols := h.d.Volumes()
	spec := drivers.VolumeSpec{Name: h.name("home"), Labels: labels("v1")}
	start := time.Now().Add(-time.Minute)
	for i := range 2 {
		if err := vols.Ensure(ctx, spec); err != nil {
			t.Fatalf("Ensure #%d: %v", i+1, err)
		}
	}
	foreign := h.name("theirs")
	if _, err := h.cli.VolumeCreate(ctx, volume.CreateOptions{Name: foreign}); err != nil {
		t.Fatal(err)
	}

	list, err := vols.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mine := slices.DeleteFunc(list, func(v drivers.Volume) bool { return !strings.HasPrefix(v.Name, h.prefix) })
	if len(mine) != 1 || mine[0].CreatedAt.Before(start) || mine[0].CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("List: got %+v, want only %s, created just now", mine, spec.Name)
	}
	if diff := cmp.Diff(spec.Labels, mine[0].Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}

	if err := vols.Ensure(ctx, drivers.VolumeSpec{Name: foreign, Labels: labels("v1")}); !errors.Is(err, drivers.ErrNotOwned) {
		t.Errorf("Ensure over a foreign volume: got %v, want ErrNotOwned", err)
	}
	if err := vols.Delete(ctx, foreign); !errors.Is(err, drivers.ErrNotOwned) {
		t.Errorf("Delete of a foreign volume: got %v, want ErrNotOwned", err)
	}
	if _, err := h.cli.VolumeInspect(ctx, foreign); err != nil {
		t.Errorf("foreign volume gone: %v", err)
	}

	for i := range 2 {
		if err := vols.Delete(ctx, spec.Name); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if _, err := h.cli.VolumeInspect(ctx, spec.Name); !isNotFound(err) {
		t.Errorf("volume still there after Delete: %v", err)
	}
}

// TestVolumeMountedBy: every container mounting a volume is named, whoever
// owns it and whether it runs or not.
func TestVolumeMountedBy(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	vols := h.d.Volumes()
	vol := h.name("data")
	if err := vols.Ensure(ctx, drivers.VolumeSpec{Name: vol, Labels: labels("v1")}); err != nil {
		t.Fatal(err)
	}
	mine := h.spec(h.name("mine"))
	mine.Mounts = []drivers.Mount{{Volume: vol, Target: "/data"}}
	if err := h.d.Containers().Ensure(ctx, mine); err != nil {
		t.Fatal(err)
	}
	theirs := h.name("theirs")
	if _, err := h.cli.ContainerCreate(ctx, &container.Config{Image: mine.Image, Cmd: []string{"true"}},
		&container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: vol, Target: "/x"}}}, nil, nil, theirs); err != nil {
		t.Fatal(err)
	}
	got, err := vols.MountedBy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	users := slices.Sorted(slices.Values(got[vol]))
	if diff := cmp.Diff([]string{mine.Name, theirs}, users); diff != "" {
		t.Fatalf("MountedBy[%s] (-want +got):\n%s", vol, diff)
	}
}
