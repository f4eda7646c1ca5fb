package docker

import (
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/drivers"
)

// TestContainerGracefulStop: a container whose group declares how it stops
// gets its signal and time to exit before it is removed (its handler
// writes into a volume); one that declares nothing is killed at once.
func TestContainerGracefulStop(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	for _, tc := range []struct {
		name    string
		timeout int
		want    string
	}{
		{"graceful", 10, "got SIGQUIT"},
		{"killed", 0, ""},
	} {
		vol := h.name(tc.name + "-data")
		if err := h.d.Volumes().Ensure(ctx, drivers.VolumeSpec{Name: vol, Labels: labels("v1")}); err != nil {
			t.Fatal(err)
		}
		spec := h.spec(h.name(tc.name), "sh", "-c", `trap 'echo got SIGQUIT > /data/stop; exit 0' QUIT; echo ready > /data/ready; while :; do sleep 0.1; done`)
		spec.Mounts = []drivers.Mount{{Volume: vol, Target: "/data"}}
		spec.StopSignal, spec.StopTimeout = "SIGQUIT", tc.timeout
		if err := h.d.Containers().Ensure(ctx, spec); err != nil {
			t.Fatal(err)
		}
		reader := h.spec(h.name(tc.name+"-read"), "sh", "-c", "until [ -e /data/ready ]; do sleep 0.1; done")
		reader.Mounts = spec.Mounts
		if err := h.d.Containers().Ensure(ctx, reader); err != nil {
			t.Fatal(err)
		}
		h.output(reader.Name)
		if err := h.d.Containers().Delete(ctx, spec.Name); err != nil {
			t.Fatal(err)
		}
		check := h.spec(h.name(tc.name+"-check"), "sh", "-c", "cat /data/stop 2>/dev/null; true")
		check.Mounts = spec.Mounts
		if err := h.d.Containers().Ensure(ctx, check); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(h.output(check.Name)); got != tc.want {
			t.Errorf("%s: the stop handler wrote %q, want %q", tc.name, got, tc.want)
		}
	}
}
