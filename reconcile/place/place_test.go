package place

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/schema"
)

var now = time.Date(2027, 5, 1, 12, 0, 0, 0, time.UTC)

func sites(hostsPerSite int) []schema.Site {
	var out []schema.Site
	n := 1
	for _, s := range []string{"campus", "cloud", "backup"} {
		site := schema.Site{Name: s}
		for h := 0; h < hostsPerSite; h++ {
			site.Hosts = append(site.Hosts, schema.Host{Name: fmt.Sprintf("h%d", h), Docker: fmt.Sprintf("unix:///x%d.sock", n), Underlay: fmt.Sprintf("198.18.0.%d", n)})
			n++
		}
		out = append(out, site)
	}
	return out
}

func course(members []string) schema.Environment {
	return schema.Environment{
		Name:     "cs101",
		Networks: []schema.Network{{Name: "lab", Subnet: "198.19.0.0/16"}},
		Groups: []schema.Group{
			{Name: "student", Image: "rensei/busybox:latest", Members: members, Networks: []schema.Attachment{{Network: "lab"}}, Volumes: []schema.Volume{{Name: "home", Path: "/home"}}},
			{Name: "server", Image: "rensei/busybox:latest", Replicas: 1, Placement: schema.Placement{Sites: []string{"backup"}}, Networks: []schema.Attachment{{Network: "lab", Address: "198.19.0.10"}}},
		},
	}
}

func mustPlace(t *testing.T, topo *schema.Topology) *Desired {
	t.Helper()
	if err := schema.Validate(topo); err != nil {
		t.Fatal(err)
	}
	d, err := Place(topo, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// where maps container name → host key plus spec hash.
func where(d *Desired) map[string]string {
	out := map[string]string{}
	for _, h := range d.Hosts {
		for _, c := range h.Containers {
			out[c.Name] = h.Key + " " + c.SpecHash()
		}
	}
	return out
}

func networksByHost(d *Desired) map[string]drivers.NetworkSpec {
	out := map[string]drivers.NetworkSpec{}
	for _, h := range d.Hosts {
		for _, n := range h.Networks {
			out[h.Key+" "+n.Name] = n
		}
	}
	return out
}

// TestAddMemberMovesNothing is the stability property: adding one member
// to a group moves no other instance and changes no other host's network
// (block, gateway), so no existing address changes.
func TestAddMemberMovesNothing(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		var members []string
		for i := 0; i < 1+r.IntN(40); i++ {
			members = append(members, fmt.Sprintf("s%04d", r.IntN(10000)))
		}
		members = uniq(members)
		before := mustPlace(t, &schema.Topology{Sites: sites(1 + r.IntN(2)), Environments: []schema.Environment{course(members)}})
		added := fmt.Sprintf("n%04d", r.IntN(10000))
		pos := r.IntN(len(members) + 1)
		grown := append(append(append([]string{}, members[:pos]...), added), members[pos:]...)
		after := mustPlace(t, &schema.Topology{Sites: sites(len(before.Hosts) / 3), Environments: []schema.Environment{course(grown)}})
		w0, w1 := where(before), where(after)
		for name, at := range w0 {
			if w1[name] != at {
				t.Fatalf("seed %d: adding %s moved %s: %s → %s", seed, added, name, at, w1[name])
			}
		}
		if len(w1) != len(w0)+1 {
			t.Fatalf("seed %d: %d containers after adding one to %d", seed, len(w1), len(w0))
		}
		n0, n1 := networksByHost(before), networksByHost(after)
		for key, n := range n0 {
			if diff := cmp.Diff(n, n1[key]); diff != "" {
				t.Fatalf("seed %d: adding %s changed network %s:\n%s", seed, added, key, diff)
			}
		}
	}
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func TestSpreadIsBalanced(t *testing.T) {
	var members []string
	for i := 0; i < 900; i++ {
		members = append(members, fmt.Sprintf("s%d", i))
	}
	d := mustPlace(t, &schema.Topology{Sites: sites(1), Environments: []schema.Environment{course(members)}})
	for _, h := range d.Hosts {
		n := 0
		for _, c := range h.Containers {
			if c.Labels[drivers.LabelGroup] == "student" {
				n++
			}
		}
		if n < 250 || n > 350 {
			t.Errorf("%s carries %d of 900 students; want about 300", h.Key, n)
		}
	}
}

func TestDeterministic(t *testing.T) {
	topo := &schema.Topology{Sites: sites(2), Environments: []schema.Environment{course([]string{"ann", "bob", "cy", "dee"})}}
	a, b := mustPlace(t, topo), mustPlace(t, topo)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("two placements differ:\n%s", diff)
	}
}

func TestNetworksAndTunnels(t *testing.T) {
	d := mustPlace(t, &schema.Topology{Sites: sites(1), Environments: []schema.Environment{course([]string{"ann", "bob", "cy", "dee", "eve", "fay"})}})
	gateways := map[string]bool{}
	var vni int
	for _, h := range d.Hosts {
		if len(h.Networks) != 1 || len(h.Tunnels) != 1 {
			t.Fatalf("%s: %d networks, %d tunnels; want 1 and 1", h.Key, len(h.Networks), len(h.Tunnels))
		}
		n, tun := h.Networks[0], h.Tunnels[0]
		if gateways[n.Gateway] {
			t.Errorf("gateway %s used twice", n.Gateway)
		}
		gateways[n.Gateway] = true
		if n.Bridge != tun.Bridge || tun.Name != TunnelName(tun.VNI) || len(tun.Name) > 15 {
			t.Errorf("%s: bridge %s, tunnel %+v", h.Key, n.Bridge, tun)
		}
		if vni != 0 && tun.VNI != vni {
			t.Errorf("VNI differs between hosts: %d, %d", vni, tun.VNI)
		}
		vni = tun.VNI
		if len(tun.Peers) != 2 || tun.MTU != 1450 || tun.Port != VXLANPort || tun.Owner != "cs101/lab" {
			t.Errorf("%s: tunnel %+v", h.Key, tun)
		}
		if strings.HasPrefix(n.IPRange, "198.19.0.0/") {
			t.Errorf("%s: host block %s is the static block", h.Key, n.IPRange)
		}
	}
}

func TestPlacementProblems(t *testing.T) {
	tests := []struct {
		name string
		topo func() *schema.Topology
		want string
	}{
		{"capacity", func() *schema.Topology {
			s := sites(1)
			for i := range s {
				s[i].Hosts[0].Capacity = &schema.Capacity{CPUs: 1}
			}
			e := course([]string{"a", "b", "c", "d", "e", "f", "g"})
			e.Groups[0].Resources.CPUs = 0.5
			return &schema.Topology{Sites: s, Environments: []schema.Environment{e}}
		}, `group "student": 1 of 7 instances exceed the declared capacity`},
		{"overlap on shared host", func() *schema.Topology {
			a, b := course([]string{"a"}), course([]string{"b"})
			b.Name = "cs102"
			b.Networks[0].Subnet = "198.19.4.0/24"
			b.Groups[1].Networks[0].Address = "198.19.4.10"
			return &schema.Topology{Sites: sites(1), Environments: []schema.Environment{a, b}}
		}, `overlaps network cs101/lab (198.19.0.0/16) on shared host backup/h0`},
		{"block too small", func() *schema.Topology {
			e := course(nil)
			for i := 0; i < 40; i++ {
				e.Groups[0].Members = append(e.Groups[0].Members, fmt.Sprint("s", i))
			}
			e.Networks[0].Subnet = "198.19.0.0/24"
			e.Groups[0].Placement.Sites = []string{"campus"}
			return &schema.Topology{Sites: sites(1), Environments: []schema.Environment{e}}
		}, `host campus/h0 needs 40 addresses but its block`},
		{"more candidate hosts than blocks", func() *schema.Topology {
			s := sites(1)
			for i := 0; i < 8; i++ {
				s[0].Hosts = append(s[0].Hosts, schema.Host{Name: fmt.Sprintf("x%d", i), Docker: fmt.Sprintf("unix:///y%d.sock", i), Underlay: fmt.Sprintf("198.18.0.%d", 100+i)})
			}
			e := course([]string{"a"})
			e.Networks[0].Subnet = "198.19.0.0/24"
			e.Groups[1].Networks[0].Address = "198.19.0.10"
			return &schema.Topology{Sites: s, Environments: []schema.Environment{e}}
		}, `its groups may run on 11 hosts but subnet 198.19.0.0/24 has 7 host blocks`},
		{"no underlay", func() *schema.Topology {
			s := sites(1)
			s[0].Hosts[0].Underlay = ""
			return &schema.Topology{Sites: s, Environments: []schema.Environment{course([]string{"a", "b", "c", "d", "e", "f"})}}
		}, `host campus/h0 has no underlay address`},
		{"host port twice", func() *schema.Topology {
			e := course([]string{"a"})
			e.Groups[1].Ports = []schema.Port{{Container: 80, Host: 8080}}
			e.Groups = append(e.Groups, schema.Group{Name: "other", Image: "b", Replicas: 1, Placement: schema.Placement{Sites: []string{"backup"}}, Ports: []schema.Port{{Container: 80, Host: 8080}}})
			return &schema.Topology{Sites: sites(1), Environments: []schema.Environment{e}}
		}, `host port tcp/8080 on backup/h0 is also published by cs101_server_0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo := tt.topo()
			if err := schema.Validate(topo); err != nil {
				t.Fatalf("validate: %v", err)
			}
			_, err := Place(topo, Options{Now: now})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// TestExplicitVNIDoesNotRenumber: an explicit VNI equal to another
// network's automatic one is a problem, not a silent renumbering.
func TestExplicitVNIDoesNotRenumber(t *testing.T) {
	a := course([]string{"ann"})
	alone := mustPlace(t, &schema.Topology{Sites: sites(1), Environments: []schema.Environment{a}})
	var auto int
	for _, h := range alone.Hosts {
		for _, tun := range h.Tunnels {
			auto = tun.VNI
		}
	}
	if auto == 0 {
		t.Fatal("no tunnel, no VNI")
	}
	b := schema.Environment{Name: "newcomer", Networks: []schema.Network{{Name: "lan", Subnet: "198.19.200.0/24", VNI: auto}}}
	_, err := Place(&schema.Topology{Sites: sites(1), Environments: []schema.Environment{a, b}}, Options{Now: now})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("its automatic vni %d is the explicit vni of newcomer/lan", auto)) {
		t.Fatalf("got %v", err)
	}
}

func TestActiveWindow(t *testing.T) {
	e := course([]string{"a"})
	e.Active = &schema.Window{From: schema.MustTime("2027-04-01"), Until: schema.MustTime("2027-08-01")}
	topo := &schema.Topology{Sites: sites(1), Environments: []schema.Environment{e}}
	for at, want := range map[string]State{"2027-03-01": Scheduled, "2027-05-01": Active, "2027-08-01": Ended} {
		tm, _ := schema.ParseTime(at)
		d, err := Place(topo, Options{Now: tm})
		if err != nil {
			t.Fatal(err)
		}
		st, _ := d.Env("cs101")
		if st.State != want {
			t.Errorf("at %s: %s, want %s", at, st.State, want)
		}
		if n := len(where(d)); (want == Active) != (n > 0) {
			t.Errorf("at %s: %d containers", at, n)
		}
	}
}

func TestChangedFields(t *testing.T) {
	a := drivers.ContainerSpec{Image: "busybox:1", Env: []string{"A=1"}}
	b := a
	b.Image, b.Env = "busybox:2", []string{"A=2"}
	if got, want := ChangedFields(fieldDigests(a), fieldDigests(b)), "image changed: busybox:1 → busybox:2; env changed"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestKeyHash: rank's streamed hash is hash64 of the joined key, so
// hosts are ranked as they always were.
func TestKeyHash(t *testing.T) {
	for _, parts := range [][]string{{"cs101", "student", "ann"}, {"cs101", "server"}, {"", "", ""}, {"é", "\x00"}} {
		for _, host := range []string{"campus/h0", "", "cloud/h12"} {
			want := hash64(strings.Join(parts, "/") + "\x00" + host)
			if got := mix64(fnv1a(keyHash(parts...), host)); got != want {
				t.Errorf("%q, %q: %x, want %x", parts, host, got, want)
			}
		}
	}
}
