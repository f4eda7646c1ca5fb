package place

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/schema"
)

// notebookCourse is a course whose notebooks get static addresses and a
// front door that names them.
func notebookCourse(members []string) schema.Environment {
	var routes strings.Builder
	for _, m := range members {
		fmt.Fprintf(&routes, "%s ${rensei:address:nb/%s};\n", m, m)
	}
	return schema.Environment{
		Name:     "cs101",
		Networks: []schema.Network{{Name: "course", Subnet: "198.19.64.0/18"}},
		Groups: []schema.Group{
			{Name: "nb", Image: "rensei/notebook:latest", Members: members,
				Env:      map[string]string{"NOTEBOOK_TOKEN": "${rensei:secret:notebook:cs101/${rensei:instance}}", "NOTEBOOK_BASE_URL": "/user/${rensei:instance}/"},
				Networks: []schema.Attachment{{Network: "course", Static: true}},
				Volumes:  []schema.Volume{{Name: "home", Path: "/home/student"}}},
			{Name: "door", Image: "rensei/frontdoor:latest", Replicas: 1, Placement: schema.Placement{Sites: []string{"backup"}},
				Networks: []schema.Attachment{{Network: "course"}},
				Ports:    []schema.Port{{Container: 80, Host: 8080}},
				Files:    []schema.File{{Path: "/etc/nginx/conf.d/routes", Content: routes.String()}}},
		},
		Access: &schema.Access{Group: "nb", URL: "http://${rensei:publish:door/0:80}/user/${rensei:instance}/", Token: "${rensei:secret:notebook:cs101/${rensei:instance}}"},
	}
}

// addressesOf maps container name → its address on the course network.
func addressesOf(d *Desired) map[string]string {
	out := map[string]string{}
	for _, h := range d.Hosts {
		for _, c := range h.Containers {
			for _, n := range c.Networks {
				if n.Network == "cs101_course" && n.IPv4 != "" {
					out[c.Name] = n.IPv4
				}
			}
		}
	}
	return out
}

// addressPins pins every address of d, as the hosts would report them.
func addressPins(d *Desired) Pins {
	p := Pins{Addresses: map[string]string{}}
	for name, ip := range addressesOf(d) {
		p.Addresses[AddressKey(name, "cs101_course")] = ip
	}
	return p
}

func members(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

// TestStaticAddresses: every notebook gets a distinct address of the
// static block; with the hosts' pins, adding or removing members moves
// nobody else's address; the front door's routes and the access rows are
// filled in with them.
func TestStaticAddresses(t *testing.T) {
	roster := members(300, "s")
	d := mustPlace(t, &schema.Topology{Sites: sites(1), Environments: []schema.Environment{notebookCourse(roster)}})
	addrs := addressesOf(d)
	static := netip.MustParsePrefix("198.19.64.0/21")
	seen := map[string]string{}
	for name, ip := range addrs {
		a := netip.MustParseAddr(ip)
		if !static.Contains(a) || a == static.Addr() {
			t.Errorf("%s has %s, outside the static block %s", name, ip, static)
		}
		if other, dup := seen[ip]; dup {
			t.Errorf("%s and %s share %s", name, other, ip)
		}
		seen[ip] = name
	}
	if len(addrs) != 300 {
		t.Fatalf("%d notebooks with addresses, want 300", len(addrs))
	}

	// Members join (at the front of the order) and leave.
	changed := append(append(members(40, "a"), roster[:150]...), roster[200:]...)
	topo := &schema.Topology{Sites: sites(1), Environments: []schema.Environment{notebookCourse(changed)}}
	unpinned := mustPlace(t, topo)
	moved := 0
	for name, ip := range addressesOf(unpinned) {
		if old, ok := addrs[name]; ok && old != ip {
			moved++
		}
	}
	pinned, err := Place(topo, Options{Now: now, Pins: addressPins(d)})
	if err != nil {
		t.Fatal(err)
	}
	for name, ip := range addressesOf(pinned) {
		if old, ok := addrs[name]; ok && old != ip {
			t.Errorf("%s moved from %s to %s despite its pin", name, old, ip)
		}
	}
	t.Logf("300 members, 40 join and 50 leave: %d addresses move without pins, 0 with", moved)
	if !pinned.Agrees(addressPins(d)) || unpinned.Agrees(addressPins(d)) != (moved == 0) {
		t.Errorf("Agrees: pinned %v, unpinned %v with %d moved", pinned.Agrees(addressPins(d)), unpinned.Agrees(addressPins(d)), moved)
	}

	// References filled in.
	pa := addressesOf(pinned)
	var door, nb string
	for _, h := range pinned.Hosts {
		for _, c := range h.Containers {
			switch c.Name {
			case "cs101_door_0":
				door = c.Files[0].Content
			case "cs101_nb_a007":
				nb = strings.Join(c.Env, "\n")
			}
		}
	}
	if want := "a007 " + pa["cs101_nb_a007"] + ";\n"; !strings.Contains(door, want) || strings.Contains(door, "${rensei:") {
		t.Errorf("front door routes lack %q or keep a reference:\n%.300s", want, door)
	}
	for _, want := range []string{"NOTEBOOK_BASE_URL=/user/a007/", "NOTEBOOK_TOKEN=${rensei:secret:notebook:cs101/a007}"} {
		if !strings.Contains(nb, want) {
			t.Errorf("notebook env lacks %q:\n%s", want, nb)
		}
	}
	rows := map[string]AccessRow{}
	for _, r := range pinned.Access {
		rows[r.Instance] = r
	}
	r := rows["a007"]
	if len(pinned.Access) != len(changed) || r.URL != "http://127.0.0.1:8080/user/a007/" || r.Token != "${rensei:secret:notebook:cs101/a007}" || r.Container != "cs101_nb_a007" || r.Host == "" {
		t.Errorf("%d access rows; a007: %+v", len(pinned.Access), r)
	}
}

// TestPlacementReferenceProblems: a reference that cannot be filled is a
// problem naming the environment, the group and the reference.
func TestPlacementReferenceProblems(t *testing.T) {
	for _, tc := range []struct{ ref, msg string }{
		{"${rensei:address:nb/nobody}", `no instance "nobody" of group "nb" is placed`},
		{"${rensei:address:door/0}", "door/0 has no static address"},
		{"${rensei:publish:door/0:443}", "door/0 does not publish port 443"},
		{"${rensei:publish:nb/s000:80}", "nb/s000 does not publish port 80"},
	} {
		e := notebookCourse(members(3, "s"))
		e.Groups[1].Env = map[string]string{"X": tc.ref}
		topo := &schema.Topology{Sites: sites(1), Environments: []schema.Environment{e}}
		if err := schema.Validate(topo); err != nil {
			t.Fatalf("%s: validate: %v", tc.ref, err)
		}
		_, err := Place(topo, Options{Now: now})
		if err == nil || !strings.Contains(err.Error(), `environment "cs101": group "door": `+tc.ref+": "+tc.msg) {
			t.Errorf("%s: %v, want %q", tc.ref, err, tc.msg)
		}
	}
}
