package schema

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
)

const siteA = `
local r = import 'rensei.libsonnet';
[
  r.site('campus', [r.host('h1', underlay='198.18.0.1', capacity={ cpus: 4, memory: '4Gi' })]),
  r.site('cloud', [r.host('h1', docker='tcp://cloud.example:2376', underlay='198.18.0.2', insecure=true)]),
]
`

func repo(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

func TestLoadImportsAndTLAs(t *testing.T) {
	fsys := repo(map[string]string{
		"sites/all.jsonnet":           siteA,
		"lib/course.libsonnet":        `{ students:: import 'roster.json' }`,
		"lib/roster.json":             `["ann", "bob"]`,
		"vendor/acme/net.libsonnet":   `{ subnet: '198.19.1.0/24' }`,
		"environments/cs/101.jsonnet": "local c = import 'course.libsonnet';\nlocal n = import 'acme/net.libsonnet';\nfunction(semester='spring') {\n  name: 'cs101-' + semester,\n  networks: [{ name: 'lab', subnet: n.subnet }],\n  groups: [{ name: 'student', image: 'rensei/busybox:latest', members: c.students, networks: [{ network: 'lab' }] }],\n}\n",
		"environments/two.jsonnet":    `[{ name: 'a' }, { name: 'b' }]`,
		"environments/README.md":      `not jsonnet: ignored`,
	})
	topo, err := Load(fsys, Options{TLAStr: map[string]string{"semester": "fall"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range topo.Environments {
		names = append(names, e.Name)
	}
	if diff := cmp.Diff([]string{"cs101-fall", "a", "b"}, names); diff != "" {
		t.Errorf("environments (-want +got):\n%s", diff)
	}
	if got := topo.Environments[0].Groups[0].Members; !cmp.Equal(got, []string{"ann", "bob"}) {
		t.Errorf("members from lib/ import: %v", got)
	}
	if got := topo.Environments[0].Source; got != (Source{File: "environments/cs/101.jsonnet", Line: 4}) {
		t.Errorf("source: %+v", got)
	}
	if len(topo.Sites) != 2 || topo.Sites[0].Hosts[0].Capacity.CPUs != 4 {
		t.Errorf("sites: %+v", topo.Sites)
	}
}

// TestProblems checks that each kind of bad input is reported with its
// file and line, and that every problem of a run is reported at once.
func TestProblems(t *testing.T) {
	env := func(body string) map[string]string {
		return map[string]string{"sites/a.jsonnet": siteA, "environments/x.jsonnet": body}
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error, in order
	}{
		{"syntax", env("{\n  name: 'x',\n  groups: [\n"), []string{"environments/x.jsonnet:4:", "Unexpected"}},
		{"runtime", env("{\n  name: error 'boom',\n}"), []string{"environments/x.jsonnet:2: RUNTIME ERROR: boom"}},
		{"unknown field", env("{\n  name: 'x',\n  groups: [{ name: 'g', imgae: 'busybox' }],\n}"), []string{`environments/x.jsonnet:3: unknown field "imgae"`}},
		{"wrong type", env("{\n  name: 'x',\n  groups: [{ name: 'g', image: 'b', replicas: 'two' }],\n}"), []string{`environments/x.jsonnet:3: groups[0].replicas: expected an integer, got a string ("two")`}},
		{"unknown site", env("{\n  name: 'x',\n  groups: [{\n    name: 'g', image: 'b', replicas: 1,\n    placement: { sites: ['hokudia'] },\n  }],\n}"),
			[]string{`environments/x.jsonnet:5: environment "x": group "g": unknown site "hokudia"`}},
		{"unknown network", env("{\n  name: 'x',\n  groups: [{ name: 'g', image: 'b', replicas: 1,\n    networks: [{ network: 'nope' }] }],\n}"),
			[]string{`environments/x.jsonnet:4: environment "x": group "g": unknown network "nope"`}},
		{"duplicate group", env("{\n  name: 'x',\n  groups: [\n    { name: 'g', image: 'b' },\n    { name: 'g', image: 'b' },\n  ],\n}"), []string{`group "g": defined twice`}},
		{"duplicate env", map[string]string{"sites/a.jsonnet": siteA, "environments/x.jsonnet": "{ name: 'x' }", "environments/y.jsonnet": "\n{ name: 'x' }"},
			[]string{`environments/y.jsonnet:2: environment "x" is defined twice`}},
		{"overlapping subnets", env("{\n  name: 'x',\n  networks: [\n    { name: 'a', subnet: '198.19.0.0/16' },\n    { name: 'b', subnet: '198.19.4.0/24' },\n  ],\n}"),
			[]string{`environments/x.jsonnet:5: environment "x": network "b": subnet 198.19.4.0/24 overlaps network "a"`}},
		{"address outside subnet", env("{\n  name: 'x',\n  networks: [{ name: 'n', subnet: '198.19.1.0/24' }],\n  groups: [{ name: 'g', image: 'b', replicas: 1,\n    networks: [{ network: 'n', address: '198.19.2.5' }] }],\n}"),
			[]string{`environments/x.jsonnet:5: environment "x": group "g": address 198.19.2.5 is outside the subnet 198.19.1.0/24`}},
		{"address twice", env("{\n  name: 'x',\n  networks: [{ name: 'n', subnet: '198.19.1.0/24' }],\n  groups: [\n    { name: 'a', image: 'b', replicas: 1, networks: [{ network: 'n', address: '198.19.1.5' }] },\n    { name: 'c', image: 'b', replicas: 1, networks: [{ network: 'n', address: '198.19.1.5' }] },\n  ],\n}"),
			[]string{`address 198.19.1.5 on network "n" is also used by group "a"`}},
		{"address in host block", env("{\n  name: 'x',\n  networks: [{ name: 'n', subnet: '198.19.1.0/24' }],\n  groups: [{ name: 'a', image: 'b', replicas: 1, networks: [{ network: 'n', address: '198.19.1.100' }] }],\n}"),
			[]string{`static addresses go in 198.19.1.1–198.19.1.31`}},
		{"vni twice", map[string]string{"sites/a.jsonnet": siteA,
			"environments/x.jsonnet": "{ name: 'x', networks: [{ name: 'n', subnet: '198.19.1.0/24', vni: 4242 }] }",
			"environments/y.jsonnet": "{ name: 'y', networks: [{ name: 'n', subnet: '198.19.2.0/24', vni: 4242 }] }"},
			[]string{`environments/y.jsonnet:1: environment "y": network "n": vni 4242 is also used by x/n`}},
		{"bad image", env("{\n  name: 'x',\n  groups: [{ name: 'g', image: 'UPPER::bad' }],\n}"), []string{`environments/x.jsonnet:3: environment "x": group "g": image "UPPER::bad"`}},
		{"name overflow", env("{\n  name: 'x',\n  groups: [{ name: 'g', image: 'b',\n    members: ['" + strings.Repeat("s", 62) + "'] }],\n}"), []string{`environments/x.jsonnet:4:`, "longer than"}},
		{"window", env("{\n  name: 'x',\n  active: { from: '2027-04-01', until: '2027-03-01' },\n}"), []string{`environments/x.jsonnet:3: environment "x": active window: until 2027-03-01 is not after from 2027-04-01`}},
		{"duplicate member", env("{\n  name: 'x',\n  groups: [{ name: 'g', image: 'b', members: ['ann', 'bob', 'ann'] }],\n}"), []string{`member "ann" is listed twice`}},
		{"invalid member", env("{\n  name: 'x',\n  groups: [{ name: 'g', image: 'b', members: ['Ann Lee'] }],\n}"), []string{`environments/x.jsonnet:3:`, `member: name "Ann Lee" must be lower-case`}},
		{"several at once", env("{\n  name: 'x',\n  networks: [{ name: 'n', subnet: '198.19.1.0/33' }],\n  groups: [\n    { name: 'a', image: 'b', placement: { sites: ['nowhere'] } },\n    { name: 'c', image: '', restart: 'sometimes' },\n  ],\n}"),
			[]string{`environments/x.jsonnet:3: environment "x": network "n": subnet "198.19.1.0/33" is not an IPv4 CIDR`,
				`environments/x.jsonnet:5: environment "x": group "a": unknown site "nowhere"`,
				`environments/x.jsonnet:6: environment "x": group "c": image is empty`,
				`environments/x.jsonnet:6: environment "x": group "c": restart "sometimes"`}},
		{"one broken file hides nothing", map[string]string{"sites/a.jsonnet": siteA,
			"environments/a.jsonnet": "{\n  name: 'a',\n  groups: [\n",
			"environments/b.jsonnet": "{\n  name: 'b',\n  groups: [{ name: 'g', image: 'b', replicas: 1,\n    placement: { sites: ['nowhere'] } }],\n}"},
			[]string{"environments/a.jsonnet:4:", `environments/b.jsonnet:4: environment "b": group "g": unknown site "nowhere"`}},
		{"replicas out of range", env("{\n  name: 'x',\n  groups: [{ name: 'g', image: 'b', replicas: -1 }, { name: 'h', image: 'b', replicas: 100000000 }],\n}"),
			[]string{`group "g": replicas -1 is negative`, `group "h": replicas 100000000 is more than 10000`}},
		{"a group named like a network", env("{\n  name: 'x',\n  networks: [\n    { name: 'db', subnet: '198.19.1.0/24' },\n  ],\n  groups: [\n    { name: 'web', image: 'b', replicas: 1 },\n    {\n      name: 'db',\n      replicas: 1,\n      image: '',\n    },\n  ],\n}"),
			[]string{`environments/x.jsonnet:11: environment "x": group "db": image is empty`}},
		{"no sites", map[string]string{"environments/x.jsonnet": "{ name: 'x' }"}, []string{"sites/: no site definitions"}},
		{"import escape", env("import '../../etc/passwd'"), []string{"environments/x.jsonnet:1:", "not found"}},
		{"site underlay twice", map[string]string{"sites/a.jsonnet": "[{ name: 'a', hosts: [{ name: 'h', docker: 'unix:///x', underlay: '198.18.0.1' }] },\n { name: 'b', hosts: [{ name: 'h', docker: 'unix:///x', underlay: '198.18.0.1' }] }]"},
			[]string{`site "b": host "h": underlay 198.18.0.1 is also used by a/h`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(repo(tt.files), Options{Timeout: 5 * time.Second})
			if err == nil {
				t.Fatal("no error")
			}
			if _, ok := err.(Problems); !ok {
				t.Fatalf("error is %T, want Problems", err)
			}
			msg := err.Error()
			at := 0
			for _, w := range tt.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error lacks %q (in order):\n%s", w, msg)
				}
				at += i + len(w)
			}
		})
	}
}

func TestRunawayConfigIsBounded(t *testing.T) {
	for name, body := range map[string]string{
		"recursion": "local f(x) = f(x) + 1;\nf(1)",
		"loop":      "std.foldl(function(a, b) a + b, std.range(0, 100000000), 0)",
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := Load(repo(map[string]string{"sites/a.jsonnet": siteA, "environments/x.jsonnet": body}), Options{Timeout: 2 * time.Second})
			if err == nil {
				t.Fatal("no error")
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("took %s", d)
			}
			if !strings.Contains(err.Error(), "environments/x.jsonnet") {
				t.Fatalf("error does not name the file: %v", err)
			}
		})
	}
}

// TestParseBytes: binary units mean what Docker and Kubernetes both mean;
// units they read differently, and amounts without a unit, are refused
// with a message that says what to write.
func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"512Mi": 512 << 20, "2Gi": 2 << 30, "1.5Gi": 3 << 29, "64Ki": 64 << 10, "1Ti": 1 << 40, "512MiB": 512 << 20} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for bad, says := range map[string]string{
		"": "empty", "lots": "not an amount", "-1Mi": "not an amount", "Mi": "not an amount",
		"512": "no unit", "512M": "ambiguous", "512MB": "ambiguous", "512m": "ambiguous", "1g": "ambiguous", "2G": "ambiguous",
	} {
		_, err := ParseBytes(bad)
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("ParseBytes(%q): %v, want an error saying %q", bad, err, says)
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("{ name: 'x', groups: [{ name: 'g', image: 'b', replicas: 2 }] }")
	f.Add("[{ name: 'x' }, { name: 'y', networks: [{ name: 'n', subnet: '198.19.0.0/24', vni: 7 }] }]")
	f.Add("{ name: 'x', active: { from: '2027-01-01' }, groups: [{ name: 'g', image: 'b', members: ['a'], networks: [{ network: 'n', address: '198.19.0.5' }] }], networks: [{ name: 'n', subnet: '198.19.0.0/24' }] }")
	f.Add("local f(x) = f(x); f(1)")
	f.Fuzz(func(t *testing.T, body string) {
		fsys := repo(map[string]string{"sites/a.jsonnet": siteA, "environments/x.jsonnet": body})
		topo, err := Load(fsys, Options{Timeout: time.Second, MaxStack: 100})
		if err == nil && topo == nil {
			t.Fatal("nil topology without error")
		}
		if err != nil {
			if _, ok := err.(Problems); !ok {
				t.Fatalf("error is %T, not Problems: %v", err, err)
			}
		}
	})
}
