package schema

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// campusSite is one site, campus, for environments that need a site.
const campusSite = "local r = import 'rensei.libsonnet';\nr.site('campus', [r.host('h1', underlay='198.18.0.1')])\n"

// TestProblemLocations: every problem is placed at the value that caused
// it, found in go-jsonnet's syntax tree: through object merges, locals,
// functions of the file and of the library (at the argument, or at the
// call when the library made the value), and groups given by name.
func TestProblemLocations(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // each a problem line's prefix "file:line: message…"
	}{
		{"the second of two equal mistakes", map[string]string{"sites/s.jsonnet": campusSite, "environments/x.jsonnet": `{
  name: 'x',
  groups: [
    { name: 'a', image: 'Bad:Image', replicas: 1 },
    { name: 'c', image: 'Bad:Image', replicas: 1 },
  ],
}
`}, []string{`environments/x.jsonnet:4: environment "x": group "a": image "Bad:Image"`, `environments/x.jsonnet:5: environment "x": group "c": image "Bad:Image"`}},
		{"a local function's argument", map[string]string{"sites/s.jsonnet": campusSite, "environments/x.jsonnet": `local g(name, site) = { name: name, image: 'b', replicas: 1, placement: { sites: [site] } };
{
  name: 'x',
  groups: [
    g('a', 'campus'),
    g('c',
      'campus'),
    g('d', 'nowhere'),
  ],
}
`}, []string{`environments/x.jsonnet:8: environment "x": group "d": unknown site "nowhere"`}},
		{"the library's host, second of two", map[string]string{"sites/s.jsonnet": `local r = import 'rensei.libsonnet';
r.site('a', [
  r.host('h1', docker='unix:///run/a.sock'),
  r.host('h2',
         docker='tcp://192.0.2.7:2375'),
])
`}, []string{`sites/s.jsonnet:5: site "a": host "h2": docker endpoint tcp://192.0.2.7:2375 has no tls`}},
		{"a value the library made is placed at the call", map[string]string{"sites/s.jsonnet": campusSite, "environments/x.jsonnet": `local r = import 'rensei.libsonnet';
r.course('cs', ['ann', 'bob'], sites=['campus'], subnet='198.19.1.0/24')
+ { networks: [{ name: 'lab', subnet: '198.19.1.0/24', mtu: 100000 }] }
`}, []string{`environments/x.jsonnet:3: environment "cs": network "lab": mtu 100000`}},
		{"a template's argument", map[string]string{"sites/s.jsonnet": campusSite, "environments/x.jsonnet": `local r = import 'rensei.libsonnet';
r.course(
  'cs',
  ['ann', 'Bob'],
  sites=['campus'],
  subnet='198.19.1.0/24',
)
`}, []string{`environments/x.jsonnet:4: environment "cs": group "student": member: name "Bob"`}},
		{"an object merge", map[string]string{"sites/s.jsonnet": campusSite, "environments/x.jsonnet": `local r = import 'rensei.libsonnet';
{
  name: 'x',
  groups: [
    r.group('web', 'rensei/busybox:latest') + { replicas: 2 },
    r.group('db', 'UPPER::bad')
    + { replicas: 1 },
  ],
}
`}, []string{`environments/x.jsonnet:6: environment "x": group "db": image "UPPER::bad"`}},
		{"an imported file", map[string]string{"sites/s.jsonnet": campusSite,
			"lib/groups.libsonnet":   "{\n  web: { name: 'web', image: 'b', replicas: 1,\n    restart: 'sometimes' },\n}\n",
			"environments/x.jsonnet": "local g = import 'groups.libsonnet';\n{ name: 'x', groups: [g.web] }\n"},
			[]string{`lib/groups.libsonnet:3: environment "x": group "web": restart "sometimes"`}},
		{"groups by name", map[string]string{"sites/s.jsonnet": campusSite, "environments/x.jsonnet": `{
  name: 'x',
  groups: {
    web: { image: 'b', replicas: 1 },
    db: { image: 'b', replicas: 1 },
  },
} + {
  groups+: {
    db+: { placement: { sites: ['nowhere'] } },
  },
}
`}, []string{`environments/x.jsonnet:9: environment "x": group "db": unknown site "nowhere"`}},
		{"a type error hides nothing else", map[string]string{"sites/s.jsonnet": campusSite, "environments/x.jsonnet": `{
  name: 'x',
  groups: [
    { name: 'a', image: 'b', replicas: 'two', restart: 'sometimes' },
    { name: 'c', image: 'b', replicas: 1,
      placement: { sites: ['nowhere'] }, imgae: 'b' },
  ],
}
`}, []string{
			`environments/x.jsonnet:4: environment "x": group "a": restart "sometimes"`,
			`environments/x.jsonnet:4: groups[0].replicas: expected an integer, got a string ("two")`,
			`environments/x.jsonnet:6: environment "x": group "c": unknown site "nowhere"`,
			`environments/x.jsonnet:6: unknown field "imgae" in groups[1] (did you mean "image"?)`,
		}},
		{"wrong types, each at its value", map[string]string{"sites/s.jsonnet": campusSite, "environments/x.jsonnet": `{
  name: 'x',
  networks: { name: 'lan' },
  groups: [{
    name: 'a',
    image: 'b',
    replicas: 1,
    command: 'sleep infinity',
    env: { A: 1 },
  }],
}
`}, []string{
			`environments/x.jsonnet:3: networks: expected an array, got an object`,
			`environments/x.jsonnet:8: groups[0].command: expected an array, got a string ("sleep infinity")`,
			`environments/x.jsonnet:9: groups[0].env.A: expected a string, got a number (1)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(repo(tt.files), Options{Timeout: 5 * time.Second})
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(err.Error(), "\n")
			for _, w := range tt.want {
				found := false
				for _, line := range got {
					found = found || strings.HasPrefix(line, w)
				}
				if !found {
					t.Errorf("no problem starts with %q:\n%s", w, err)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("%d problems, want %d:\n%s", len(got), len(tt.want), err)
			}
		})
	}
}

// TestEvaluationErrors: errors are placed at go-jsonnet's own locations,
// frames inside Rensei's library hidden unless Trace.
func TestEvaluationErrors(t *testing.T) {
	libCall := map[string]string{"sites/s.jsonnet": campusSite, "environments/x.jsonnet": `local r = import 'rensei.libsonnet';
local roster = [{ name: 'ann' }];
{
  name: 'x',
  groups: [
    r.group('g', 'b') + { members: r.members(roster) },
  ],
}
`}
	_, err := Load(repo(libCall), Options{Timeout: 5 * time.Second})
	if err == nil || !strings.HasPrefix(err.Error(), "environments/x.jsonnet:2: RUNTIME ERROR: Field does not exist: id (at groups[0].members[0])") {
		t.Fatalf("error inside the library, at the value written: %v", err)
	}
	if strings.Contains(err.Error(), LibPrefix) || !strings.Contains(err.Error(), "--trace shows them") {
		t.Errorf("library frames shown without Trace, or not said to be hidden: %v", err)
	}
	_, err = Load(repo(libCall), Options{Timeout: 5 * time.Second, Trace: true})
	if err == nil || !strings.Contains(err.Error(), LibPrefix+"rensei.libsonnet:") {
		t.Errorf("Trace: the library's frames are missing: %v", err)
	}

	imported := map[string]string{"sites/s.jsonnet": campusSite,
		"lib/bad.libsonnet":      "{\n  a: 1,\n  b: ,\n}\n",
		"environments/x.jsonnet": "local b = import 'bad.libsonnet';\n{ name: 'x' + b.a }\n"}
	_, err = Load(repo(imported), Options{Timeout: 5 * time.Second})
	if err == nil || !strings.HasPrefix(err.Error(), "lib/bad.libsonnet:3: ") || !strings.Contains(err.Error(), "imported at environments/x.jsonnet:1") {
		t.Errorf("a syntax error in an imported file: %v", err)
	}
}

// TestNotAnEnvironment: a file under environments/ that is no environment
// is one problem saying what it is; *.libsonnet files there are helpers,
// not loaded.
func TestNotAnEnvironment(t *testing.T) {
	for body, says := range map[string]string{
		"'hello'":                      `environments/x.jsonnet:1: evaluates to a string ("hello"), not an environment or an array of them (helper files under environments/ are named *.libsonnet, which are not loaded)`,
		"['a', 'b']":                   `environments/x.jsonnet:1: evaluates to an array of 2 strings, not an environment`,
		"[{ name: 'x' }, 3]":           `environments/x.jsonnet:1: evaluates to an array of 1 object, 1 number, not an environment`,
		"function(semester) {}":        `environments/x.jsonnet:`,
		"\n\n{ helper(x):: x }.helper": `environments/x.jsonnet:`,
	} {
		_, err := Load(repo(map[string]string{"sites/s.jsonnet": campusSite, "environments/x.jsonnet": body}), Options{Timeout: 5 * time.Second})
		if err == nil {
			t.Errorf("%s: loaded", body)
			continue
		}
		if ps := err.(Problems); len(ps) != 1 || !strings.HasPrefix(ps[0].String(), says) {
			t.Errorf("%s: want one problem starting %q, got:\n%s", body, says, err)
		}
	}
	topo, err := Load(repo(map[string]string{
		"sites/s.jsonnet":                  campusSite,
		"environments/cs/course.libsonnet": "{ course(name):: { name: name } }",
		"environments/cs/a.jsonnet":        "(import 'course.libsonnet').course('a')",
	}), Options{Timeout: 5 * time.Second})
	if err != nil || len(topo.Environments) != 1 {
		t.Errorf("a helper .libsonnet under environments/: %v", err)
	}
}

// TestGroupsByName: groups may be an object keyed by name (changed with
// groups+: { ws+: {...} }), decoded into the list ordered by name; the
// list form still works; withGroup changes a template's group by name.
func TestGroupsByName(t *testing.T) {
	topo, err := Load(repo(map[string]string{"sites/s.jsonnet": campusSite,
		"environments/a.jsonnet": `{
  name: 'a',
  groups: {
    www: { image: 'b', replicas: 1 },
    ws: { image: 'b', replicas: 2 },
  },
} + { groups+: { ws+: { replicas: 3 } } }
`,
		"environments/b.jsonnet": `local r = import 'rensei.libsonnet';
r.course('b', ['ann', 'bob'], sites=['campus'], subnet='198.19.2.0/24')
+ r.withGroup('student', { resources+: { cpus: 1 } })
+ { groups+: [r.group('extra', 'b')] }
`,
		"environments/c.jsonnet": `local r = import 'rensei.libsonnet';
{ name: 'c', groups: [r.group('web', 'b'), r.group('db', 'b')] }
+ r.withoutGroup('web')
`,
	}), Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range topo.Environments {
		for _, g := range e.Groups {
			got = append(got, e.Name+"/"+g.Name+":"+strings.Join(g.Instances(), ","))
		}
	}
	want := []string{"a/ws:0,1,2", "a/www:0", "b/student:ann,bob", "b/extra:0", "c/db:0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if cpus := topo.Environments[1].Groups[0].Resources.CPUs; cpus != 1 {
		t.Errorf("withGroup: cpus %v", cpus)
	}

	_, err = Load(repo(map[string]string{"sites/s.jsonnet": campusSite,
		"environments/a.jsonnet": "{\n  name: 'a',\n  groups: {\n    ws: { name: 'web', image: 'b', replicas: 1 },\n  },\n}\n"}), Options{Timeout: 5 * time.Second})
	if err == nil || !strings.HasPrefix(err.Error(), `environments/a.jsonnet:4: group "ws" is named "web"`) {
		t.Errorf("a group named unlike its key: %v", err)
	}
	_, err = Load(repo(map[string]string{"sites/s.jsonnet": campusSite,
		"environments/a.jsonnet": "local r = import 'rensei.libsonnet';\n{ name: 'a', groups: [r.group('web', 'b')] }\n+ r.withGroup('wbe', { replicas: 2 })\n"}), Options{Timeout: 5 * time.Second})
	if err == nil || !strings.HasPrefix(err.Error(), `environments/a.jsonnet:3: RUNTIME ERROR: withGroup: no group "wbe" (groups: web)`) {
		t.Errorf("withGroup of a missing group: %v", err)
	}
}
