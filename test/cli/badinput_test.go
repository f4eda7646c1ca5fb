package cli_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The subnet prefix bad configurations use. Nothing is ever created with
// it (that is the point), so it need not be free.
const badNet = "198.19.251"

// at is a place a problem may be reported: a file and the line of the
// first occurrence of marker in the content the test wrote there.
type at struct {
	file, marker string
}

// badCase is a config repository with one configuration error.
type badCase struct {
	name     string
	capacity string            // the local host's capacity, Jsonnet; default quickstart's
	files    map[string]string // path → content; %[1]s is the environment, %[2]s badNet
	// where lists the acceptable places of the report, best first. Most
	// problems have exactly one; a duplicate may be reported at either
	// definition, a placement problem at its group or environment.
	where []at
	msg   string // part of the message
}

var badCases = []badCase{
	{
		name: "jsonnet syntax error",
		files: map[string]string{"environments/x.jsonnet": `{
  name: '%[1]s',
  networks: [{ name: 'lan' subnet: '%[2]s.0/24' }],  // missing comma
  groups: [],
}
`},
		where: []at{{"environments/x.jsonnet", "missing comma"}},
		msg:   "comma",
	},
	{
		name: "runtime error",
		files: map[string]string{"environments/x.jsonnet": `{
  name: '%[1]s',
  groups: [
    error 'boom',
  ],
}
`},
		where: []at{{"environments/x.jsonnet", "error 'boom'"}},
		msg:   "boom",
	},
	{
		name: "unknown field",
		files: map[string]string{"environments/x.jsonnet": `{
  name: '%[1]s',
  groups: [
    {
      name: 'web',
      imgae: 'rensei/busybox:latest',
      replicas: 1,
      command: ['sleep', 'infinity'],
    },
  ],
}
`},
		where: []at{{"environments/x.jsonnet", "imgae:"}},
		msg:   `unknown field "imgae"`,
	},
	{
		name: "unknown site",
		files: map[string]string{"environments/x.jsonnet": `{
  name: '%[1]s',
  groups: [
    {
      name: 'web',
      image: 'rensei/busybox:latest',
      replicas: 1,
      command: ['sleep', 'infinity'],
      placement: { sites: ['nowhere'] },
    },
  ],
}
`},
		where: []at{{"environments/x.jsonnet", "'nowhere'"}},
		msg:   `unknown site "nowhere"`,
	},
	{
		name: "unknown network in an attachment",
		files: map[string]string{"environments/x.jsonnet": `{
  name: '%[1]s',
  networks: [{ name: 'lan', subnet: '%[2]s.0/24' }],
  groups: [
    {
      name: 'web',
      image: 'rensei/busybox:latest',
      replicas: 1,
      command: ['sleep', 'infinity'],
      networks: [{ network: 'nosuchnet' }],
    },
  ],
}
`},
		where: []at{{"environments/x.jsonnet", "'nosuchnet'"}},
		msg:   `unknown network "nosuchnet"`,
	},
	{
		name: "duplicate group names",
		files: map[string]string{"environments/x.jsonnet": `{
  name: '%[1]s',
  groups: [
    { name: 'web', image: 'rensei/busybox:latest', replicas: 1, command: ['sleep', 'infinity'] },  // first web
    { name: 'web', image: 'rensei/busybox:latest', replicas: 1, command: ['sleep', '3600'] },  // second web
  ],
}
`},
		where: []at{{"environments/x.jsonnet", "second web"}, {"environments/x.jsonnet", "first web"}},
		msg:   `group "web": defined twice`,
	},
	{
		name: "duplicate environment names across files",
		files: map[string]string{
			"environments/a.jsonnet": `{
  name: '%[1]s',
  groups: [{ name: 'web', image: 'rensei/busybox:latest', replicas: 1, command: ['sleep', 'infinity'] }],
}
`,
			"environments/b.jsonnet": `// the same name again
{
  name: '%[1]s',
  groups: [{ name: 'db', image: 'rensei/busybox:latest', replicas: 1, command: ['sleep', 'infinity'] }],
}
`},
		where: []at{{"environments/b.jsonnet", "name: '"}, {"environments/a.jsonnet", "name: '"}},
		msg:   "defined twice",
	},
	{
		name: "overlapping subnets in one environment",
		files: map[string]string{"environments/x.jsonnet": `{
  name: '%[1]s',
  networks: [
    { name: 'a', subnet: '%[2]s.0/24' },
    { name: 'b', subnet: '%[2]s.128/25' },
  ],
}
`},
		where: []at{{"environments/x.jsonnet", ".128/25"}},
		msg:   "overlaps",
	},
	{
		name: "static address outside its subnet",
		files: map[string]string{"environments/x.jsonnet": `{
  name: '%[1]s',
  networks: [{ name: 'lan', subnet: '%[2]s.0/24' }],
  groups: [
    {
      name: 'shell',
      image: 'rensei/busybox:latest',
      replicas: 1,
      command: ['sleep', 'infinity'],
      networks: [{ network: 'lan', address: '10.9.8.7' }],
    },
  ],
}
`},
		where: []at{{"environments/x.jsonnet", "'10.9.8.7'"}},
		msg:   "outside the subnet",
	},
	{
		name: "the same static address twice",
		files: map[string]string{"environments/x.jsonnet": `{
  name: '%[1]s',
  networks: [{ name: 'lan', subnet: '%[2]s.0/24' }],
  groups: [
    {
      name: 'a',
      image: 'rensei/busybox:latest',
      replicas: 1,
      command: ['sleep', 'infinity'],
      networks: [{ network: 'lan', address: '%[2]s.10' }],  // first address
    },
    {
      name: 'b',
      image: 'rensei/busybox:latest',
      replicas: 1,
      command: ['sleep', 'infinity'],
      networks: [{ network: 'lan', address: '%[2]s.10' }],  // second address
    },
  ],
}
`},
		where: []at{{"environments/x.jsonnet", "second address"}, {"environments/x.jsonnet", "first address"}},
		msg:   "also used by group",
	},
	{
		name: "a VNI used twice",
		files: map[string]string{"environments/x.jsonnet": `{
  name: '%[1]s',
  networks: [
    { name: 'a', subnet: '%[2]s.0/25', vni: 4242 },  // first vni
    { name: 'b', subnet: '%[2]s.128/25', vni: 4242 },  // second vni
  ],
}
`},
		where: []at{{"environments/x.jsonnet", "second vni"}, {"environments/x.jsonnet", "first vni"}},
		msg:   "vni 4242",
	},
	{
		name:     "a group exceeding declared capacity",
		capacity: "{ cpus: 1 }",
		files: map[string]string{"environments/x.jsonnet": `{
  name: '%[1]s',
  groups: [
    {
      name: 'web',
      image: 'rensei/busybox:latest',
      replicas: 3,
      command: ['sleep', 'infinity'],
      resources: { cpus: 0.5 },
    },
  ],
}
`},
		where: []at{
			{"environments/x.jsonnet", "name: 'web'"}, {"environments/x.jsonnet", "replicas: 3"},
			{"environments/x.jsonnet", "cpus: 0.5"}, {"environments/x.jsonnet", "name: '%[1]s'"},
		},
		msg: "capacity",
	},
	{
		name: "an invalid image reference",
		files: map[string]string{"environments/x.jsonnet": `{
  name: '%[1]s',
  groups: [
    {
      name: 'web',
      image: 'UPPER::bad',
      replicas: 1,
      command: ['sleep', 'infinity'],
    },
  ],
}
`},
		where: []at{{"environments/x.jsonnet", "UPPER::bad"}},
		msg:   "UPPER::bad",
	},
	{
		name: "a name that would overflow",
		files: map[string]string{"environments/x.jsonnet": `{
  name: '%[1]s',
  groups: [
    {
      name: 'lab',
      image: 'rensei/busybox:latest',
      command: ['sleep', 'infinity'],
      members: ['` + strings.Repeat("s", 60) + `'],
    },
  ],
}
`},
		where: []at{{"environments/x.jsonnet", "members:"}},
		msg:   strings.Repeat("s", 60),
	},
	{
		name: "until before from in the active window",
		files: map[string]string{"environments/x.jsonnet": `{
  name: '%[1]s',
  active: {
    from: '2027-05-01',
    until: '2027-04-01',
  },
  groups: [{ name: 'web', image: 'rensei/busybox:latest', replicas: 1, command: ['sleep', 'infinity'] }],
}
`},
		where: []at{{"environments/x.jsonnet", "until:"}, {"environments/x.jsonnet", "active:"}},
		msg:   "until",
	},
	{
		name: "a runaway config",
		files: map[string]string{"environments/x.jsonnet": `// infinite recursion: must end in an error, quickly
local f(x) = f(x) + 1;
f(1)
`},
		where: []at{{"environments/x.jsonnet", "local f(x)"}, {"environments/x.jsonnet", "f(1)\n"}},
		msg:   "stack",
	},
}

// lineOf is the 1-based line of the first occurrence of marker in s.
func lineOf(t *testing.T, s, marker string) int {
	t.Helper()
	i := strings.Index(s, marker)
	if i < 0 {
		t.Fatalf("marker %q is not in\n%s", marker, s)
	}
	return strings.Count(s[:i], "\n") + 1
}

// TestBadInput writes each bad configuration and checks that validate and
// apply both exit 1, name the file and the line of the problem, and that
// apply changes nothing on the engine. Every evaluation is bounded: none
// may take more than a few seconds.
func TestBadInput(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	for _, bc := range badCases {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t, cli)
			if bc.capacity != "" {
				r.write("sites/local.jsonnet", localSite(bc.capacity))
			}
			written := map[string]string{}
			for path, content := range bc.files {
				written[path] = strings.NewReplacer("%[1]s", r.env, "%[2]s", badNet).Replace(content)
				r.write(path, written[path])
			}
			var places []string
			for _, w := range bc.where {
				places = append(places, fmt.Sprintf("%s:%d:", w.file, lineOf(t, written[w.file], strings.ReplaceAll(w.marker, "%[1]s", r.env))))
			}
			for _, cmd := range [][]string{{"validate", r.dir}, {"apply", "--yes", r.dir}} {
				res := r.rensei(cmd...)
				wantExit(t, res, 1)
				if res.took > 5*time.Second {
					t.Errorf("%s took %s: a configuration error must be reported within seconds", cmd[0], res.took)
				}
				wantProblemAt(t, res.stderr, places, bc.msg)
				if cmd[0] == "apply" {
					wantContains(t, "apply error", res.stderr, "nothing applied")
				}
			}
			if objs := envObjects(t, cli, r.env); len(objs) > 0 {
				t.Errorf("apply of a bad configuration created %v", objs)
			}
		})
	}
}

// wantProblemAt fails unless one line of out names one of places (the
// first acceptable, ideally) and carries msg.
func wantProblemAt(t *testing.T, out string, places []string, msg string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		for i, p := range places {
			if strings.Contains(line, p) && strings.Contains(line, msg) {
				if i > 0 {
					t.Logf("reported at %s; %s would be more precise", p, places[0])
				}
				return
			}
		}
	}
	t.Errorf("no line names %s with %q:\n%s", strings.Join(places, " or "), msg, out)
}

// TestBadInputAllProblemsReported writes several problems in two files and
// checks that one run reports every one of them, each at its line.
func TestBadInputAllProblemsReported(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	r := newRepo(t, cli)
	x := fmt.Sprintf(`{
  name: '%[1]s',
  active: { from: '2027-05-01', until: '2027-04-01' },
  networks: [{ name: 'lan', subnet: '%[2]s.0/24' }],
  groups: [
    {
      name: 'web',
      image: 'UPPER::bad',
      replicas: 1,
      command: ['sleep', 'infinity'],
      placement: { sites: ['nowhere'] },
    },
    {
      name: 'shell',
      image: 'rensei/busybox:latest',
      replicas: 1,
      command: ['sleep', 'infinity'],
      networks: [{ network: 'lan', address: '10.9.8.7' }],
    },
  ],
}
`, r.env, badNet)
	y := fmt.Sprintf(`{
  name: '%[1]sy',
  groups: [
    { name: 'db', image: 'rensei/busybox:latest', replicas: 1, networks: [{ network: 'nosuchnet' }] },
  ],
}
`, r.env)
	r.write("environments/x.jsonnet", x)
	r.write("environments/y.jsonnet", y)
	want := []struct{ place, msg string }{
		{fmt.Sprintf("environments/x.jsonnet:%d:", lineOf(t, x, "until:")), "until"},
		{fmt.Sprintf("environments/x.jsonnet:%d:", lineOf(t, x, "UPPER::bad")), "UPPER::bad"},
		{fmt.Sprintf("environments/x.jsonnet:%d:", lineOf(t, x, "'nowhere'")), `unknown site "nowhere"`},
		{fmt.Sprintf("environments/x.jsonnet:%d:", lineOf(t, x, "'10.9.8.7'")), "outside the subnet"},
		{fmt.Sprintf("environments/y.jsonnet:%d:", lineOf(t, y, "'nosuchnet'")), `unknown network "nosuchnet"`},
	}
	for _, cmd := range [][]string{{"validate", r.dir}, {"apply", "--yes", r.dir}} {
		res := r.rensei(cmd...)
		wantExit(t, res, 1)
		wantContains(t, cmd[0]+" error", res.stderr, fmt.Sprintf("%d configuration problem(s)", len(want)))
		for _, w := range want {
			wantProblemAt(t, res.stderr, []string{w.place}, w.msg)
		}
	}
	if objs := envObjects(t, cli, r.env); len(objs) > 0 {
		t.Errorf("apply of a bad configuration created %v", objs)
	}
}
