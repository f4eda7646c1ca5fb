package plan_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/test/golden"

	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/fake"
	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/render"
	"github.com/rensei-dev/rensei/schema"
)

func topology(image string, members ...string) *schema.Topology {
	return &schema.Topology{
		Sites: []schema.Site{
			{Name: "campus", Hosts: []schema.Host{{Name: "h0", Docker: "unix:///x1", Underlay: "198.18.0.1"}}},
			{Name: "cloud", Hosts: []schema.Host{{Name: "h0", Docker: "unix:///x2", Underlay: "198.18.0.2"}}},
		},
		Environments: []schema.Environment{{
			Name:     "cs101",
			Networks: []schema.Network{{Name: "lab", Subnet: "198.19.0.0/24", VNI: 4242}},
			Groups: []schema.Group{
				{Name: "student", Image: image, Members: members, Networks: []schema.Attachment{{Network: "lab"}},
					Volumes: []schema.Volume{{Name: "home", Path: "/home"}}},
				{Name: "server", Image: image, Replicas: 1, Placement: schema.Placement{Sites: []string{"cloud"}},
					Networks: []schema.Attachment{{Network: "lab", Address: "198.19.0.10"}},
					Ports:    []schema.Port{{Container: 80, Host: 8080}}},
			},
		}},
	}
}

func desired(t *testing.T, topo *schema.Topology) *place.Desired {
	t.Helper()
	d, err := place.Place(topo, place.Options{Now: time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// world is two fake hosts and their observation.
type world struct {
	hosts map[string]*fake.Host
}

func newWorld() *world {
	return &world{hosts: map[string]*fake.Host{"campus/h0": fake.New("campus/h0"), "cloud/h0": fake.New("cloud/h0")}}
}

func (w *world) drivers() map[string]drivers.Host {
	out := map[string]drivers.Host{}
	for k, h := range w.hosts {
		out[k] = h.Drivers()
	}
	return out
}

func (w *world) observe(t *testing.T) plan.Observed {
	t.Helper()
	obs := plan.Observed{}
	ctx := context.Background()
	for k, h := range w.hosts {
		d := h.Drivers()
		var st plan.HostState
		st.Status = d.Probe(ctx)
		if !st.Status.Reachable {
			st.Err = errors.New(st.Status.Error)
			obs[k] = st
			continue
		}
		st.Containers, _ = d.Containers.List(ctx)
		st.Networks, _ = d.Networks.List(ctx)
		st.Volumes, _ = d.Volumes.List(ctx)
		st.Tunnels, _ = d.Tunnels.List(ctx)
		obs[k] = st
	}
	return obs
}

func (w *world) converge(t *testing.T, want *place.Desired) {
	t.Helper()
	p := plan.Compute(want, w.observe(t))
	if _, err := apply.Apply(context.Background(), p, w.drivers(), apply.Options{}); err != nil {
		t.Fatal(err)
	}
	if again := plan.Compute(want, w.observe(t)); !again.Empty() {
		t.Fatalf("not converged: %v", again.Steps)
	}
}

func goldenPlan(t *testing.T, name string, p plan.Plan) {
	t.Helper()
	var buf bytes.Buffer
	if err := render.Plan(&buf, p, false); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, name+".golden", buf.Bytes())
}

func TestPlanGolden(t *testing.T) {
	base := topology("rensei/busybox:1", "ann", "bob", "cy", "dee")
	tests := []struct {
		name  string
		want  *schema.Topology
		drift func(w *world)
	}{
		{"empty-hosts", base, nil},
		{"converged", base, func(w *world) {}},
		{"image-changed", topology("rensei/busybox:2", "ann", "bob", "cy", "dee"), func(w *world) {}},
		{"member-dropped-and-added", topology("rensei/busybox:1", "ann", "bob", "cy", "eve"), func(w *world) {}},
		{"drift", base, func(w *world) {
			w.hosts["campus/h0"].Stop("cs101_student_ann")
			w.hosts["cloud/h0"].Remove("container", "cs101_server_0")
			w.hosts["campus/h0"].MutateTunnel("rs-vx-4242", func(tu *drivers.Tunnel) { tu.Bridge, tu.MTU, tu.Peers = "", 1300, nil })
			w.hosts["cloud/h0"].Remove("tunnel", "rs-vx-4242")
		}},
		{"environment-removed", &schema.Topology{Sites: base.Sites}, func(w *world) {}},
		{"environment-ended", func() *schema.Topology {
			t := topology("rensei/busybox:1", "ann", "bob", "cy", "dee")
			t.Environments[0].Active = &schema.Window{Until: schema.MustTime("2027-04-01")}
			return t
		}(), func(w *world) {}},
		{"host-down", base, func(w *world) { w.hosts["cloud/h0"].SetDown(true) }},
		{"group-renamed", func() *schema.Topology {
			t := topology("rensei/busybox:1", "ann", "bob", "cy", "dee")
			t.Environments[0].Groups[0].Name = "pupil"
			return t
		}(), func(w *world) {}},
		{"environment-renamed", func() *schema.Topology {
			t := topology("rensei/busybox:1", "ann", "bob", "cy", "dee")
			t.Environments[0].Name = "cs102"
			t.Environments[0].Networks[0].VNI = 4343
			return t
		}(), func(w *world) {}},
		{"server-renamed-keeps-address-and-port", func() *schema.Topology {
			t := topology("rensei/busybox:1", "ann", "bob", "cy", "dee")
			t.Environments[0].Groups[1].Name = "web"
			return t
		}(), func(w *world) {}},
		{"semester-ended-volumes-collapse", func() *schema.Topology {
			t := topology("rensei/busybox:1", "ann", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ida", "jo")
			t.Environments[0].Active = &schema.Window{Until: schema.MustTime("2027-04-01")}
			return t
		}(), func(w *world) {}},
		{"subnet-changed", func() *schema.Topology {
			t := topology("rensei/busybox:1", "ann", "bob", "cy", "dee")
			t.Environments[0].Networks[0].Subnet = "198.19.1.0/24"
			t.Environments[0].Groups[1].Networks[0].Address = "198.19.1.10"
			return t
		}(), func(w *world) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			if tt.drift != nil {
				start := base
				if strings.HasPrefix(tt.name, "semester") {
					start = topology("rensei/busybox:1", "ann", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ida", "jo")
				}
				w.converge(t, desired(t, start))
				tt.drift(w)
			}
			want := desired(t, tt.want)
			p := plan.Compute(want, w.observe(t))
			goldenPlan(t, tt.name, p)
			if again := plan.Compute(want, w.observe(t)); !cmp.Equal(p, again) {
				t.Fatal("plan is not deterministic")
			}
			if all := plan.Renames(want, w.observe(t)); !cmp.Equal(p.Renames, all) {
				t.Fatalf("renames %v, looking at everything finds %v", p.Renames, all)
			}
			if tt.name == "host-down" {
				return
			}
			w.converge(t, want)
		})
	}
}
