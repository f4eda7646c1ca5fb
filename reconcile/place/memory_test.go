package place

import (
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/schema"
)

// campusTopology is the campus of test/bench and test/fleet in Go: 10
// sites of one host each, courses courses of per students with three
// containers each (workstation, notebook, database) on the course's lab
// network, every course spread over every site. With home, each instance
// has a home volume (test/bench's campus; test/fleet's has none).
func campusTopology(tb testing.TB, courses, per int, home bool) *schema.Topology {
	tb.Helper()
	var sites, envs []string
	for i := range 10 {
		sites = append(sites, fmt.Sprintf(`{"name":"s%d","hosts":[{"name":"h0","docker":"unix:///run/s%d.sock","underlay":"198.18.0.%d","capacity":{"cpus":40000,"memory":"80000Gi"}}]}`, i, i, i+1))
	}
	for i := range courses {
		var ids []string
		for s := range per {
			ids = append(ids, fmt.Sprintf(`"s%d"`, 10000+s))
		}
		members := "[" + strings.Join(ids, ",") + "]"
		volumes := ""
		if home {
			volumes = `,"volumes":[{"name":"home","path":"/home/student"}]`
		}
		group := func(name, cmd string) string {
			return fmt.Sprintf(`{"name":%q,"image":"rensei/busybox:latest","command":%s,"members":%s,"placement":{"strategy":"spread"},`+
				`"resources":{"cpus":0.5,"memory":"256Mi"},"networks":[{"network":"lab"}]%s}`, name, cmd, members, volumes)
		}
		envs = append(envs, fmt.Sprintf(`{"name":"c%03d","owner":"lecturer@example.edu","networks":[{"name":"lab","subnet":"10.%d.0.0/16","hostPrefix":20}],"groups":[%s,%s,%s]}`,
			i, i, group("ws", `["sleep","infinity"]`), group("nb", `["httpd","-f"]`), group("db", `["sleep","infinity"]`)))
	}
	var t schema.Topology
	if err := json.Unmarshal([]byte(`{"sites":[`+strings.Join(sites, ",")+`],"environments":[`+strings.Join(envs, ",")+`]}`), &t); err != nil {
		tb.Fatal(err)
	}
	if err := schema.Validate(&t); err != nil {
		tb.Fatal(err)
	}
	return &t
}

// BenchmarkPlaceCampusMemory places the 30,000 containers of the campus
// (as a daemon does: with a commit and a scope), with and without a home
// volume per instance, and reports the heap the placed desired state
// holds apart from the topology's (desired-MB).
func BenchmarkPlaceCampusMemory(b *testing.B) {
	for _, home := range []bool{true, false} {
		name := "home"
		if !home {
			name = "nohome"
		}
		b.Run(name, func(b *testing.B) { benchmarkPlaceMemory(b, campusTopology(b, 100, 100, home), 30000) })
	}
}

func benchmarkPlaceMemory(b *testing.B, topo *schema.Topology, want int) {
	opts := Options{Now: now, Commit: "0123456789abcdef0123456789abcdef01234567", Scope: "campus"}
	var held float64
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		b.StartTimer()
		d, err := Place(topo, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		held = float64(int64(ms1.HeapAlloc) - int64(ms0.HeapAlloc))
		if n := containers(d); n != want {
			b.Fatalf("placed %d containers, want %d", n, want)
		}
		runtime.KeepAlive(d)
		b.StartTimer()
	}
	b.ReportMetric(held/1e6, "desired-MB")
}

func containers(d *Desired) int {
	n := 0
	for _, h := range d.Hosts {
		n += len(h.Containers)
	}
	return n
}

// TestSharedPartsStayPerInstance: what placement shares between a
// group's instances (files without placement references, aliases) is
// equal for each, and what it fills in per instance (files
// with references, static addresses) is each instance's own.
func TestSharedPartsStayPerInstance(t *testing.T) {
	topo := &schema.Topology{Sites: sites(1), Environments: []schema.Environment{{
		Name:     "lab",
		Networks: []schema.Network{{Name: "n", Subnet: "10.9.0.0/16"}, {Name: "m", Subnet: "10.10.0.0/16"}},
		Groups: []schema.Group{
			{Name: "plain", Image: "x:1", Replicas: 3, Files: []schema.File{{Path: "/etc/motd", Content: "hello"}},
				Networks: []schema.Attachment{{Network: "n"}, {Network: "m", Aliases: []string{"web"}}}},
			{Name: "own", Image: "x:1", Replicas: 3, Files: []schema.File{{Path: "/etc/who", Content: "${rensei:instance}@${rensei:host}"}},
				Networks: []schema.Attachment{{Network: "n", Static: true}}},
		},
	}}}
	d := mustPlace(t, topo)
	addrs := map[string]bool{}
	for _, h := range d.Hosts {
		for _, c := range h.Containers {
			inst := c.Labels[drivers.LabelInstance]
			switch c.Labels[drivers.LabelGroup] {
			case "plain":
				want := []drivers.File{{Path: "/etc/motd", Content: "hello", Mode: 0o644}}
				if !reflect.DeepEqual(c.Files, want) {
					t.Errorf("%s: files %v, want %v", c.Name, c.Files, want)
				}
				if len(c.Networks) != 2 || !slices.Equal(c.Networks[0].Aliases, []string{"plain", "plain-" + inst}) ||
					!slices.Equal(c.Networks[1].Aliases, []string{"plain", "plain-" + inst, "web"}) {
					t.Errorf("%s: networks %v", c.Name, c.Networks)
				}
			case "own":
				if want := inst + "@" + h.Spec.Name; len(c.Files) != 1 || c.Files[0].Content != want {
					t.Errorf("%s: files %v, want content %q", c.Name, c.Files, want)
				}
				if len(c.Networks) != 1 || c.Networks[0].IPv4 == "" || addrs[c.Networks[0].IPv4] {
					t.Errorf("%s: networks %v: want an address of its own", c.Name, c.Networks)
				}
				addrs[c.Networks[0].IPv4] = true
			}
		}
	}
	if len(addrs) != 3 {
		t.Errorf("%d static addresses, want 3", len(addrs))
	}
}
