package e2e_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// exampleDir is the config repository the federation tests apply.
const exampleDir = "examples/federated-lecture"

// The overlay of the example, as environments/lecture.jsonnet declares it.
const (
	envName   = "lecture"
	vni       = 2020
	tunnel    = "rs-vx-2020"
	bridgeDev = "rs-br-2020"
	dockerNet = "lecture_lab"
	wwwAddr   = "198.19.20.10"
	wwwName   = "lecture_www_0"
	// newStudent and newStudentB are added while site-b is down; placement
	// puts the first at site-a and the second at site-b.
	newStudent  = "isamu"
	newStudentB = "gen"
)

// TestLabSitesIdentical keeps the example's sites/lab.jsonnet a copy of
// site-configs/lab.jsonnet, as its README promises.
func TestLabSitesIdentical(t *testing.T) {
	a, err := os.ReadFile(filepath.Join(repoRoot, "site-configs", "lab.jsonnet"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, exampleDir, "sites", "lab.jsonnet"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("%s/sites/lab.jsonnet differs from site-configs/lab.jsonnet: copy it again", exampleDir)
	}
}

// evalOut is the part of `rensei eval` output the tests read.
type evalOut struct {
	Hosts []struct {
		Key  string `json:"key"`
		Site string `json:"site"`
		Spec struct {
			Docker   string `json:"docker"`
			Underlay string `json:"underlay"`
			Netns    string `json:"netns"`
		} `json:"spec"`
		Containers []struct {
			Name     string `json:"name"`
			Networks []struct {
				Network string `json:"network"`
				IPv4    string `json:"ipv4"`
			} `json:"networks"`
		} `json:"containers"`
		Tunnels []struct {
			Name  string   `json:"name"`
			VNI   int      `json:"vni"`
			Local string   `json:"local"`
			Peers []string `json:"peers"`
		} `json:"tunnels"`
	} `json:"hosts"`
}

// placement is where eval puts each container: site name → container names.
func (e evalOut) placement() map[string][]string {
	out := map[string][]string{}
	for _, h := range e.Hosts {
		names := []string{}
		for _, c := range h.Containers {
			names = append(names, c.Name)
		}
		out[h.Site] = names
	}
	return out
}

func evaluate(t *testing.T, repo string) evalOut {
	t.Helper()
	r := runRensei(t, "eval", repo)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	var out evalOut
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("eval output: %v", err)
	}
	return out
}

// TestLecturePlacement checks what the example asks for without any host:
// it validates; students spread over site-a and site-b only, both used; the
// web server alone at site-c on its static address; one tunnel per site
// with the other two sites as peers. The drift and outage scenarios rely
// on this layout.
func TestLecturePlacement(t *testing.T) {
	repo := filepath.Join(repoRoot, exampleDir)
	r := mustRensei(t, 0, "validate", repo)
	if !strings.Contains(r.stdout, "valid: 3 sites, 3 hosts, 1 environments, 7 containers placed") {
		t.Errorf("validate: unexpected summary %q", r.stdout)
	}
	out := evaluate(t, repo)
	if len(out.Hosts) != 3 {
		t.Fatalf("eval: %d hosts, want 3", len(out.Hosts))
	}
	underlays := map[string]string{}
	for _, h := range out.Hosts {
		underlays[h.Site] = h.Spec.Underlay
	}
	for _, h := range out.Hosts {
		letter := strings.TrimPrefix(h.Site, "site-")
		if want := "unix:///run/rensei-lab/" + h.Site + "/docker.sock"; h.Spec.Docker != want {
			t.Errorf("%s: docker %q, want %q", h.Key, h.Spec.Docker, want)
		}
		if want := "rs-lab-" + letter; h.Spec.Netns != want {
			t.Errorf("%s: netns %q, want %q", h.Key, h.Spec.Netns, want)
		}
		students := 0
		for _, c := range h.Containers {
			switch {
			case strings.HasPrefix(c.Name, "lecture_student_"):
				students++
				if h.Site == "site-c" {
					t.Errorf("student %s placed at site-c", c.Name)
				}
			case c.Name == wwwName:
				if h.Site != "site-c" {
					t.Errorf("%s placed at %s, want site-c", c.Name, h.Site)
				}
				if len(c.Networks) != 1 || c.Networks[0].IPv4 != wwwAddr {
					t.Errorf("%s: networks %+v, want %s on %s", c.Name, c.Networks, wwwAddr, dockerNet)
				}
			default:
				t.Errorf("%s: unexpected container %s", h.Key, c.Name)
			}
		}
		if h.Site != "site-c" && students == 0 {
			t.Errorf("%s has no student: the spread over site-a and site-b is not exercised", h.Site)
		}
		if len(h.Tunnels) != 1 || h.Tunnels[0].Name != tunnel || h.Tunnels[0].VNI != vni {
			t.Fatalf("%s: tunnels %+v, want one %s (vni %d)", h.Key, h.Tunnels, tunnel, vni)
		}
		var peers []string
		for site, u := range underlays {
			if site != h.Site {
				peers = append(peers, u)
			}
		}
		slices.Sort(peers)
		if tun := h.Tunnels[0]; tun.Local != h.Spec.Underlay || !slices.Equal(tun.Peers, peers) {
			t.Errorf("%s: tunnel local %s peers %v, want %s and %v", h.Key, tun.Local, tun.Peers, h.Spec.Underlay, peers)
		}
	}
}
