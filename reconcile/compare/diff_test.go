package compare_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/compare"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/render"
	"github.com/rensei-dev/rensei/schema"
)

var now = time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)

// topology is two sites, three hosts and one course environment: a
// student per member with a home volume, and a server at the cloud site.
func topology() *schema.Topology {
	return &schema.Topology{
		Sites: []schema.Site{
			{Name: "campus", Hosts: []schema.Host{
				{Name: "h0", Docker: "unix:///x1", Underlay: "198.18.0.1"},
				{Name: "h1", Docker: "unix:///x2", Underlay: "198.18.0.2"},
			}},
			{Name: "cloud", Hosts: []schema.Host{{Name: "h0", Docker: "unix:///x3", Underlay: "198.18.0.3"}}},
		},
		Environments: []schema.Environment{{
			Name:     "cs101",
			Networks: []schema.Network{{Name: "lab", Subnet: "198.19.0.0/24", VNI: 4242}},
			Groups: []schema.Group{
				{Name: "student", Image: "busybox:1", Command: []string{"sleep", "infinity"},
					Members:   []string{"ann", "bob", "cyd", "dee"},
					Placement: schema.Placement{Sites: []string{"campus"}},
					Resources: schema.Resources{CPUs: 0.5, Memory: schema.MustBytes("64Mi")},
					Networks:  []schema.Attachment{{Network: "lab"}},
					Volumes:   []schema.Volume{{Name: "home", Path: "/home"}}},
				{Name: "server", Image: "busybox:1", Replicas: 1, Placement: schema.Placement{Sites: []string{"cloud"}},
					Networks: []schema.Attachment{{Network: "lab", Address: "198.19.0.10"}},
					Files:    []schema.File{{Path: "/www/index.html", Content: "hello"}},
					Ports:    []schema.Port{{Container: 80, Host: 8080}}},
			},
		}},
	}
}

func desired(t *testing.T, topo *schema.Topology, commit string) *place.Desired {
	t.Helper()
	d, err := place.Place(topo, place.Options{Now: now, Commit: commit})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// lines flattens a diff to one line per entry, for table tests.
func lines(d compare.Diff) []string {
	out := render.Headlines(d)
	for _, h := range d.Hosts {
		for _, c := range h.Changes {
			out = append(out, strings.TrimSuffix(fmt.Sprintf("%s: %s %s %s: %s", h.Host, c.Action, c.Kind, c.Name, c.Describe()), ": "))
		}
	}
	return out
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*schema.Topology)
		want   []string // lines that must appear
		absent []string // substrings that must not
		counts compare.Counts
	}{
		{
			name:   "unchanged",
			edit:   func(*schema.Topology) {},
			counts: compare.Counts{},
		},
		{
			name: "image changed",
			edit: func(t *schema.Topology) { t.Environments[0].Groups[0].Image = "busybox:2" },
			want: []string{
				"~ environment cs101: containers ±4",
				"~ group cs101/student: image busybox:1 → busybox:2; 4 instances replaced",
			},
			counts: compare.Counts{Environments: compare.Tally{Update: 1}, Groups: compare.Tally{Update: 1}, Containers: compare.Tally{Replace: 4}},
		},
		{
			name: "group added",
			edit: func(t *schema.Topology) {
				g := t.Environments[0].Groups[0]
				g.Name, g.Members = "tutor", []string{"tom"}
				t.Environments[0].Groups = append(t.Environments[0].Groups, g)
			},
			want: []string{
				"~ environment cs101: containers +1; volumes +1",
				"+ group cs101/tutor: image busybox:1, 1 instance on campus/h1",
				"campus/h1: create container cs101_tutor_tom",
			},
		},
		{
			name: "members added and removed",
			edit: func(t *schema.Topology) {
				t.Environments[0].Groups[0].Members = []string{"ann", "bob", "cyd", "eve", "fay"}
			},
			want: []string{
				"~ group cs101/student: instances: 4 → 5: +eve, +fay, -dee",
				"campus/h1: keep volume cs101_student_dee_home: no longer used: kept with its data",
			},
			absent: []string{"rename?", "~ container"},
			counts: compare.Counts{Environments: compare.Tally{Update: 1}, Groups: compare.Tally{Update: 1},
				Containers: compare.Tally{Create: 2, Delete: 1}, Volumes: compare.Tally{Create: 2, Keep: 1}},
		},
		{
			name: "command, env, resources, files and ports",
			edit: func(t *schema.Topology) {
				s := &t.Environments[0].Groups[1]
				s.Command = []string{"httpd", "-f"}
				s.Env = map[string]string{"MODE": "prod"}
				s.Resources = schema.Resources{CPUs: 1, Memory: schema.MustBytes("1Gi")}
				s.Files = []schema.File{{Path: "/www/index.html", Content: "bye"}, {Path: "/www/new.html", Content: "x"}}
				s.Ports = []schema.Port{{Container: 80, Host: 8081}}
			},
			want: []string{
				"cloud/h0: replace container cs101_server_0: command (none) → httpd -f; env: +MODE; resources: cpus 0.5 → 1, memory 256Mi → 1Gi; files: +/www/new.html, ~/www/index.html; ports 8080→80/tcp → 8081→80/tcp",
			},
		},
		{
			name: "static address",
			edit: func(t *schema.Topology) { t.Environments[0].Groups[1].Networks[0].Address = "198.19.0.11" },
			want: []string{"cloud/h0: replace container cs101_server_0: networks: ~cs101_lab (address 198.19.0.10 → 198.19.0.11)"},
		},
		{
			name: "subnet changed",
			edit: func(t *schema.Topology) {
				t.Environments[0].Networks[0].Subnet = "198.19.8.0/24"
				t.Environments[0].Groups[1].Networks[0].Address = "198.19.8.10"
			},
			want: []string{"cloud/h0: replace network cs101_lab: subnet 198.19.0.0/24 → 198.19.8.0/24; host block"},
		},
		{
			name: "mtu and vni changed",
			edit: func(t *schema.Topology) {
				t.Environments[0].Networks[0].MTU = 1400
				t.Environments[0].Networks[0].VNI = 4343
			},
			want: []string{
				"cloud/h0: replace network cs101_lab: mtu 1450 → 1400; vni 4242 → 4343",
				"cloud/h0: replace tunnel rs-vx-4343: vni 4242 → 4343; mtu 1450 → 1400",
			},
		},
		{
			name: "group renamed",
			edit: func(t *schema.Topology) { t.Environments[0].Groups[0].Name = "pupil" },
			want: []string{
				"! rename? group student → pupil in environment cs101: 4 instances deleted and 4 created; 4 volumes of the old name kept, not moved (the new name starts empty)",
				"- group cs101/student: 4 instances deleted",
			},
		},
		{
			name: "group renamed and changed is no rename",
			edit: func(t *schema.Topology) {
				t.Environments[0].Groups[0].Name = "pupil"
				t.Environments[0].Groups[0].Image = "busybox:2"
			},
			absent: []string{"rename?"},
		},
		{
			name: "environment renamed",
			edit: func(t *schema.Topology) { t.Environments[0].Name = "cs102" },
			want: []string{
				"! rename? environment cs101 → cs102: 5 instances deleted and 5 created, 1 network recreated; 4 volumes of the old name kept, not moved (the new name starts empty)",
				"- environment cs101: 5 instances and 1 network deleted; 4 volumes kept with their data",
				"+ environment cs102: active: 2 groups, 5 instances, 1 network",
			},
		},
		{
			name: "environment removed",
			edit: func(t *schema.Topology) { t.Environments = nil },
			want: []string{
				"- environment cs101: 5 instances and 1 network deleted; 4 volumes kept with their data",
				"cloud/h0: delete tunnel rs-vx-4242: cs101/lab",
			},
			absent: []string{"rename?"},
			counts: compare.Counts{Environments: compare.Tally{Delete: 1}, Groups: compare.Tally{Delete: 2}, Containers: compare.Tally{Delete: 5},
				Networks: compare.Tally{Delete: 3}, Tunnels: compare.Tally{Delete: 3}, Volumes: compare.Tally{Keep: 4}},
		},
		{
			name: "window ended",
			edit: func(t *schema.Topology) {
				t.Environments[0].Active = &schema.Window{Until: schema.MustTime("2027-04-30")}
			},
			want: []string{"~ environment cs101: state active → ended; active until open → 2027-04-30; torn down, volumes kept; containers -5; networks -3; tunnels -3; volumes 4 kept"},
		},
		{
			name: "scheduled environment added",
			edit: func(t *schema.Topology) {
				e := t.Environments[0]
				e.Name, e.Active = "cs201", &schema.Window{From: schema.MustTime("2027-09-01")}
				t.Environments = append(t.Environments, e)
			},
			want:   []string{"+ environment cs201: scheduled from 2027-09-01: nothing is created before"},
			counts: compare.Counts{Environments: compare.Tally{Create: 1}},
		},
		{
			name: "host changed and host added",
			edit: func(t *schema.Topology) {
				t.Sites[1].Hosts[0].Underlay = "198.18.0.9"
				t.Sites[1].Hosts = append(t.Sites[1].Hosts, schema.Host{Name: "h1", Docker: "unix:///y"})
			},
			want: []string{
				"~ host cloud/h0 (host changed: underlay 198.18.0.3 → 198.18.0.9)",
				"+ host cloud/h1 (new host)",
				"campus/h0: update tunnel rs-vx-4242: peers: +198.18.0.9, -198.18.0.3",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := desired(t, topology(), "b")
			topo := topology()
			tt.edit(topo)
			head := desired(t, topo, "h")
			d := compare.Compare(base, head)
			got := lines(d)
			for _, w := range tt.want {
				if !slices.ContainsFunc(got, func(l string) bool { return l == w || strings.HasPrefix(l, w) }) {
					t.Errorf("missing line %q in:\n%s", w, strings.Join(got, "\n"))
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(strings.Join(got, "\n"), a) {
					t.Errorf("unexpected %q in:\n%s", a, strings.Join(got, "\n"))
				}
			}
			if tt.counts != (compare.Counts{}) || tt.name == "unchanged" {
				if diff := cmp.Diff(tt.counts, d.Counts()); diff != "" {
					t.Errorf("counts (-want +got):\n%s", diff)
				}
			}
			if tt.name == "unchanged" && !d.Empty() {
				t.Errorf("want empty, got:\n%s", strings.Join(got, "\n"))
			}
		})
	}
}

// TestCompareSymmetric: swapping base and head swaps creations and
// deletions of containers, networks and tunnels.
func TestCompareSymmetric(t *testing.T) {
	a := desired(t, topology(), "a")
	topo := topology()
	topo.Environments[0].Groups[0].Members = []string{"ann", "zed"}
	topo.Environments[0].Networks[0].MTU = 1400
	b := desired(t, topo, "b")
	fwd, back := compare.Compare(a, b).Counts(), compare.Compare(b, a).Counts()
	if fwd.Containers.Create != back.Containers.Delete || fwd.Containers.Delete != back.Containers.Create || fwd.Containers.Replace != back.Containers.Replace {
		t.Errorf("containers: forward %+v, backward %+v", fwd.Containers, back.Containers)
	}
	if fwd.Networks.Create != back.Networks.Delete || fwd.Networks.Delete != back.Networks.Create || fwd.Networks.Replace != back.Networks.Replace {
		t.Errorf("networks: forward %+v, backward %+v", fwd.Networks, back.Networks)
	}
}

// TestCompareMoved: an instance whose host changes is deleted on one host
// and created on the other, each saying where.
func TestCompareMoved(t *testing.T) {
	base := desired(t, topology(), "a")
	topo := topology()
	topo.Environments[0].Groups[1].Placement.Sites = []string{"campus"}
	head := desired(t, topo, "b")
	d := compare.Compare(base, head)
	got := strings.Join(lines(d), "\n")
	for _, w := range []string{"cloud/h0: delete container cs101_server_0: moved to campus/", "create container cs101_server_0: moved from cloud/h0", "1 instance moved to another host"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
	if strings.Contains(got, "RENSEI_HOST") {
		t.Errorf("a move reports the variables it changes by itself:\n%s", got)
	}
}

func TestForEnv(t *testing.T) {
	base := desired(t, topology(), "a")
	topo := topology()
	other := topo.Environments[0]
	other.Name = "other"
	other.Networks = []schema.Network{{Name: "lab", Subnet: "198.19.64.0/24", VNI: 4343}}
	other.Groups = other.Groups[:1]
	other.Groups[0].Volumes = nil
	other.Groups[0].Networks = []schema.Attachment{{Network: "lab"}}
	topo.Environments = append(topo.Environments, other)
	topo.Environments[0].Groups[0].Image = "busybox:3"
	head := desired(t, topo, "b")
	d := compare.Compare(base, head)
	if got := d.EnvNames(); !slices.Equal(got, []string{"cs101", "other"}) {
		t.Errorf("EnvNames = %v", got)
	}
	f := d.ForEnv("other")
	if len(f.Environments) != 1 || f.Environments[0].Action != change.Create {
		t.Errorf("ForEnv(other).Environments = %+v", f.Environments)
	}
	for _, h := range f.Hosts {
		for _, c := range h.Changes {
			if c.Env != "other" {
				t.Errorf("ForEnv(other) kept %+v", c)
			}
		}
	}
	if f := d.ForEnv("nosuch"); !f.Empty() {
		t.Errorf("ForEnv(nosuch) not empty: %v", lines(f))
	}
}

// TestCompareNil: a nil side wants nothing, as before a first commit.
func TestCompareNil(t *testing.T) {
	d := compare.Compare(nil, desired(t, topology(), "a"))
	if c := d.Counts(); c.Environments.Create != 1 || c.Hosts.Create != 3 || c.Containers.Create != 5 {
		t.Errorf("counts %+v", c)
	}
	if !compare.Compare(nil, nil).Empty() {
		t.Error("nil vs nil not empty")
	}
}

// TestJSON: the diff encodes with stable field names and empty lists, not null.
func TestJSON(t *testing.T) {
	d := compare.Compare(desired(t, topology(), "a"), desired(t, topology(), "b"))
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"base":"a","head":"b","environments":[],"groups":[],"hosts":[]}`
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}
