package examples_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rensei-dev/rensei/reconcile/place"
)

const (
	spring     = "cs101-2027-spring"
	fall       = "cs101-2027-fall"
	springFile = "environments/cs101/2027-spring.jsonnet"
	springCSV  = "environments/cs101/roster-2027-spring.csv"
	fallJSON   = "environments/cs101/roster-2027-fall.json"
)

var (
	inSpring = time.Date(2027, 5, 1, 12, 0, 0, 0, time.UTC)
	inFall   = time.Date(2027, 11, 1, 12, 0, 0, 0, time.UTC)
)

type student struct{ ID, Name string }

// roster reads a lab-course roster the way the Jsonnet does, independently.
func roster(t *testing.T, file string) []student {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(examplesDir(t), "lab-course", file))
	if err != nil {
		t.Fatal(err)
	}
	var out []student
	if strings.HasSuffix(file, ".json") {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if id, name, ok := strings.Cut(strings.TrimSpace(line), ","); ok && i > 0 {
			out = append(out, student{id, name})
		}
	}
	return out
}

func TestLabCourseWindows(t *testing.T) {
	fsys := exampleFS(t, "lab-course")
	for _, tc := range []struct {
		at           string
		spring, fall place.State
	}{
		{"2027-03-01", place.Scheduled, place.Scheduled},
		{"2027-05-01", place.Active, place.Scheduled},
		{"2027-09-01", place.Ended, place.Scheduled},
		{"2027-11-01", place.Ended, place.Active},
		{"2028-03-01", place.Ended, place.Ended},
	} {
		at, _ := time.Parse(time.DateOnly, tc.at)
		_, want := desire(t, fsys, at)
		for env, state := range map[string]place.State{spring: tc.spring, fall: tc.fall} {
			st, ok := want.Env(env)
			if !ok || st.State != state {
				t.Errorf("at %s: %s is %q, want %q", tc.at, env, st.State, state)
			}
			if n := len(containersOf(want, env)); (state == place.Active) != (n > 0) {
				t.Errorf("at %s: %s (%s) has %d containers", tc.at, env, state, n)
			}
		}
	}
}

// TestLabCourseNotebooks checks what each semester asks for: a notebook
// server per student of its roster on site-a or site-b, with its limits,
// home, read-only dataset, base URL and its own token (a reference, never
// a value); a front door at site-c publishing its port on the site's
// address and routing every student's path to that student's static
// address; a course page without tokens; one access row per student.
func TestLabCourseNotebooks(t *testing.T) {
	fsys := exampleFS(t, "lab-course")
	for _, tc := range []struct {
		env    string
		at     time.Time
		roster string
		port   string
	}{
		{spring, inSpring, springCSV, "8080"},
		{fall, inFall, fallJSON, "8081"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			_, want := desire(t, fsys, tc.at)
			students := roster(t, tc.roster)
			if len(students) < 3 {
				t.Fatalf("roster %s: %d students", tc.roster, len(students))
			}
			door, host := container(want, tc.env+"_door_0")
			if door == nil {
				t.Fatal("no front door container")
			}
			if host != "site-c/docker" {
				t.Errorf("front door on %s, want site-c/docker", host)
			}
			if len(door.Ports) != 1 || door.Ports[0].Container != 80 || strconv.Itoa(door.Ports[0].Host) != tc.port || door.Ports[0].HostIP != "198.18.0.3" {
				t.Errorf("front door ports %+v, want 80 on 198.18.0.3:%s", door.Ports, tc.port)
			}
			files := map[string]string{}
			for _, f := range door.Files {
				files[f.Path] = f.Content
			}
			routes, page := files["/etc/nginx/conf.d/rensei.conf"], files["/srv/www/index.html"]
			if strings.Contains(routes+page, "${rensei:") || strings.Contains(routes+page, "secret") {
				t.Errorf("front door files keep a reference or name a secret:\n%s\n%s", routes, page)
			}
			addrs := map[string]bool{}
			for _, s := range students {
				nb, host := container(want, tc.env+"_nb_"+s.ID)
				switch {
				case nb == nil:
					t.Errorf("no notebook server for %s", s.ID)
					continue
				case host != "site-a/docker" && host != "site-b/docker":
					t.Errorf("notebook of %s on %s", s.ID, host)
				case nb.NanoCPUs != 100_000_000 || nb.Memory != 256<<20 || nb.Image != "rensei/notebook:latest":
					t.Errorf("notebook of %s: cpus %d, memory %d, image %s", s.ID, nb.NanoCPUs, nb.Memory, nb.Image)
				}
				ip := ""
				for _, n := range nb.Networks {
					if n.Network == tc.env+"_course" {
						ip = n.IPv4
					}
				}
				if ip == "" || addrs[ip] {
					t.Errorf("notebook of %s: static address %q (empty or shared)", s.ID, ip)
				}
				addrs[ip] = true
				if route := "\t" + s.ID + " " + ip + ";\n"; !strings.Contains(routes, route) {
					t.Errorf("front door routes lack %q", route)
				}
				env := strings.Join(nb.Env, "\n")
				for _, w := range []string{"NOTEBOOK_BASE_URL=/user/" + s.ID + "/", "NOTEBOOK_TOKEN=${rensei:secret:notebook:" + tc.env + "/" + s.ID + "}"} {
					if !strings.Contains(env, w) {
						t.Errorf("notebook of %s: env lacks %q", s.ID, w)
					}
				}
				mounts := map[string]bool{}
				for _, m := range nb.Mounts {
					mounts[m.Volume+":"+m.Target+":"+strconv.FormatBool(m.ReadOnly)] = true
				}
				for _, m := range []string{tc.env + "_nb_" + s.ID + "_home:/home/student:false", tc.env + "_dataset:/home/student/dataset:true"} {
					if !mounts[m] {
						t.Errorf("notebook of %s lacks mount %s (has %v)", s.ID, m, nb.Mounts)
					}
				}
			}
			if got := len(regexp.MustCompile(`(?m)^\t[a-z0-9-]+ [0-9.]+;$`).FindAllString(routes, -1)); got != len(students) {
				t.Errorf("front door has %d routes, want %d", got, len(students))
			}
			rows := 0
			for _, a := range want.Access {
				if a.Env == tc.env {
					rows++
					if wantURL := "http://198.18.0.3:" + tc.port + "/user/" + a.Instance + "/"; a.URL != wantURL {
						t.Errorf("access %s: %s, want %s", a.Instance, a.URL, wantURL)
					}
				}
			}
			if rows != len(students) {
				t.Errorf("%d access rows, want %d", rows, len(students))
			}
			// Each site with notebooks has the dataset seeded.
			for _, site := range []string{"site-a", "site-b"} {
				if c, _ := container(want, tc.env+"_dataset-"+site+"_0"); c == nil {
					t.Errorf("no dataset seeder at %s", site)
				}
			}
		})
	}
}

// TestLabCourseShort: a whole 40-student course over three sites is at
// most 20 lines of Jsonnet with the template.
func TestLabCourseShort(t *testing.T) {
	fsys := exampleFS(t, "lab-course")
	lines := strings.Count(strings.TrimRight(string(fsys["environments/cs101/2027-fall.jsonnet"].Data), "\n"), "\n") + 1
	if n := len(roster(t, fallJSON)); n != 40 || lines > 20 {
		t.Errorf("2027-fall.jsonnet: %d lines for %d students; want at most 20 for 40", lines, n)
	}
}

func TestLabCourseBadRosters(t *testing.T) {
	for _, tc := range []struct {
		name     string
		file     string
		old, new string
		want     []string
		at       time.Time
	}{
		{"csv duplicate", springCSV, "s004,", "s003,", []string{`roster-2027-spring.csv:5: duplicate id "s003" (first at line 4)`}, inSpring},
		{"csv invalid id", springCSV, "s002,", "Ann Lee,", []string{`roster-2027-spring.csv:3: id "Ann Lee": must be lower-case letters, digits and inner dashes`}, inSpring},
		{"csv id ends in a dash", springCSV, "s006,", "s006-,", []string{`roster-2027-spring.csv:7: id "s006-": must be lower-case letters, digits and inner dashes`}, inSpring},
		{"csv missing field", springCSV, "s002,Bunta Sato", "s002", []string{"roster-2027-spring.csv:3: 1 fields, the header has 2"}, inSpring},
		{"json duplicate", fallJSON, `"s102"`, `"s101"`, []string{`roster-2027-fall.json: entry 2: duplicate id "s101"`}, inFall},
		{"json invalid id", fallJSON, `"s103"`, `"Ann Lee"`, []string{`roster-2027-fall.json: entry 3: invalid id "Ann Lee"`}, inFall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := exampleFS(t, "lab-course")
			edit(t, fsys, tc.file, tc.old, tc.new)
			// A bad roster is an error whatever the time: rosters are
			// read even for environments outside their window.
			for _, at := range []time.Time{tc.at, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} {
				msg := desireErr(t, fsys, at)
				for _, w := range tc.want {
					if !strings.Contains(msg, w) {
						t.Errorf("error lacks %q:\n%s", w, msg)
					}
				}
			}
		})
	}
}

// TestLabCourseWindowReversed: a window whose until precedes from is an
// error at the file and line of "until".
func TestLabCourseWindowReversed(t *testing.T) {
	fsys := exampleFS(t, "lab-course")
	edit(t, fsys, springFile, "active={ from: '2027-04-01', until: '2027-08-01' }", "active={ from: '2027-08-01', until: '2027-04-01' }")
	line := 0
	for i, l := range strings.Split(string(fsys[springFile].Data), "\n") {
		if strings.Contains(l, "until:") {
			line = i + 1
		}
	}
	msg := desireErr(t, fsys, inSpring)
	want := springFile + ":" + strconv.Itoa(line) + ": "
	if !strings.Contains(msg, want) || !strings.Contains(msg, "until 2027-04-01 is not after from 2027-08-01") {
		t.Errorf("error lacks %q and the reason:\n%s", want, msg)
	}
}

// TestLabCourseCapacity: moving the course to a site too small for it is
// the capacity error, naming the environment's file.
func TestLabCourseCapacity(t *testing.T) {
	fsys := exampleFS(t, "lab-course")
	fsys["sites/small.jsonnet"] = &fstest.MapFile{Data: []byte(`local r = import 'rensei.libsonnet';
r.site('site-d', [r.host('docker', docker='unix:///run/rensei-lab/site-d/docker.sock', underlay='198.18.0.4', capacity={ cpus: 1, memory: '1Gi' })])
`)}
	edit(t, fsys, "environments/cs101/course.libsonnet", "sites=['site-a', 'site-b']", "sites=['site-d']")
	msg := desireErr(t, fsys, inSpring)
	for _, want := range []string{springFile, `environment "cs101-2027-spring": group "nb"`, "exceed the declared capacity of site-d/docker"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

// TestLabCourseRosterChange: against a converged world, dropping a student
// deletes exactly that student's notebook server and keeps its home
// volume; adding one creates exactly a home volume and a server. The front
// door routes every student, so its routes are re-rendered and its
// container replaced ("files changed"): that step is expected, and the
// only other one.
func TestLabCourseRosterChange(t *testing.T) {
	fsys := exampleFS(t, "lab-course")
	_, want := desire(t, fsys, inSpring)
	w := newWorld(want)
	w.converge(t, want)

	frontDoor := "replace container " + spring + "_door_0"
	for _, tc := range []struct {
		name     string
		old, new string
		want     []string
	}{
		{
			name: "drop s005",
			old:  "s005,Emi Watanabe\n", new: "",
			want: []string{
				"delete container " + spring + "_nb_s005",
				"keep volume " + spring + "_nb_s005_home",
				frontDoor,
			},
		},
		{
			name: "add s009",
			old:  "s008,Hana Nakamura\n", new: "s008,Hana Nakamura\ns009,Iori Kimura\n",
			want: []string{
				"create container " + spring + "_nb_s009",
				"create volume " + spring + "_nb_s009_home",
				frontDoor,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed := exampleFS(t, "lab-course")
			edit(t, changed, springCSV, tc.old, tc.new)
			p := w.plan(w.desire(t, changed, inSpring))
			got := stepKeys(p)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("steps:\n%s\nwant:\n%s\nplan:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"), render(p))
			}
			for _, s := range p.Steps {
				if s.Name == spring+"_door_0" && (s.Host != "site-c/docker" || s.Reason != "files changed") {
					t.Errorf("front door step: %s", s)
				}
			}
		})
	}
}
