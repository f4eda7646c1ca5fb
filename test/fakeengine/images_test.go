package fakeengine_test

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/test/fakeengine"
)

func TestImageMissing(t *testing.T) {
	e := newEngine(t, fakeengine.Options{Images: map[string]string{}})
	d := newDriver(t, e)
	ctx := testCtx(t)
	err := d.Containers().Ensure(ctx, spec("web"))
	if !errors.Is(err, drivers.ErrImageMissing) || !strings.Contains(err.Error(), "no such host") {
		t.Errorf("Ensure without the image: %v", err)
	}
	if n := len(e.Containers()); n != 0 {
		t.Errorf("%d containers made", n)
	}

	cli := newClient(t, e)
	_, err = cli.ImageInspect(ctx, "busybox")
	if err == nil || err.Error() != "Error response from daemon: No such image: busybox:latest" {
		t.Errorf("inspect of an unknown image: %v", err)
	}
}

func TestImagePull(t *testing.T) {
	const id = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	e := newEngine(t, fakeengine.Options{Images: map[string]string{}, Registry: map[string]string{busybox: id}})
	d := newDriver(t, e)
	if err := d.Containers().Ensure(testCtx(t), spec("web")); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.Container("web"); !c.Running || c.ImageID != id {
		t.Errorf("container %+v, want running on the pulled image", c)
	}
	if n := e.Calls("ImagePull"); n != 1 {
		t.Errorf("%d pulls, want 1", n)
	}
}

// TestImageCopy moves an image from one engine to another with save and
// load, keeping its ID.
func TestImageCopy(t *testing.T) {
	src := newEngine(t, fakeengine.Options{Images: map[string]string{busybox: "", "alpine:3": ""}})
	dst := newEngine(t, fakeengine.Options{Images: map[string]string{}})
	ctx := testCtx(t)
	rc, err := newClient(t, src).ImageSave(ctx, []string{busybox})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	resp, err := newClient(t, dst).ImageLoad(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(out), "Loaded image: "+busybox) {
		t.Errorf("load said %s", out)
	}
	want := fakeengine.Image{ID: fakeengine.DeriveImageID(busybox), Tags: []string{busybox}}
	if got := dst.Images(); len(got) != 1 || got[0].ID != want.ID || !slices.Equal(got[0].Tags, want.Tags) {
		t.Errorf("destination has %+v, want %+v", got, want)
	}
	if err := newDriver(t, dst).Containers().Ensure(ctx, spec("web")); err != nil {
		t.Errorf("Ensure on the destination: %v", err)
	}
}
