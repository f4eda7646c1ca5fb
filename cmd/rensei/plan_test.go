package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/reconcile/compare"
	"github.com/rensei-dev/rensei/reconcile/render"
	"github.com/rensei-dev/rensei/test/gittest"
)

// The sites point at Docker endpoints that do not exist: plan --base must
// not contact any host, so it works all the same.
const testSites = `local r = import 'rensei.libsonnet';
[
  r.site('campus', [r.host('h0', docker='unix:///nonexistent/campus.sock', underlay='198.18.0.1'),
                    r.host('h1', docker='unix:///nonexistent/campus1.sock', underlay='198.18.0.2')]),
  r.site('cloud', [r.host('h0', docker='tcp://192.0.2.1:2376', underlay='198.18.0.3', insecure=true)]),
]
`

// testCourse is an environment file; group names the student group.
func testCourse(group, image, site string, members ...string) string {
	return `local r = import 'rensei.libsonnet';
local c = r.course('cs101', ['` + strings.Join(members, "', '") + `'], sites=['` + site + `'], subnet='198.19.1.0/24', image='` + image + `', active={ until: '2027-08-01' });
c + { groups: [g + { name: '` + group + `' } for g in c.groups] }
`
}

// testRepo is a Git repository in a temp dir, written with the git CLI.
type testRepo struct {
	*gittest.Repo
	dir string
}

func newTestRepo(t *testing.T) *testRepo {
	t.Helper()
	g := gittest.New(t)
	return &testRepo{Repo: g, dir: g.Dir}
}

func (r *testRepo) git(args ...string) string                         { return r.Git(args...) }
func (r *testRepo) write(name, body string)                           { r.Write(name, body) }
func (r *testRepo) commit(msg string, files map[string]string) string { return r.Commit(msg, files) }

// runCLI runs rensei in-process and returns stdout, stderr and the exit
// code main would use.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code := 0
	var ee exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case err != nil:
		errb.WriteString("rensei: " + err.Error() + "\n")
		code = 1
	}
	return out.String(), errb.String(), code
}

// planRepo has one commit per branch so each test case compares main
// with a branch of its own.
func planRepo(t *testing.T) *testRepo {
	t.Helper()
	r := newTestRepo(t)
	r.commit("base", map[string]string{
		"sites/lab.jsonnet":          testSites,
		"environments/cs101.jsonnet": testCourse("student", "busybox:1", "campus", "ann", "bob", "cyd"),
	})
	branch := func(name string, files map[string]string) {
		r.git("checkout", "-q", "-b", name, "main")
		r.commit(name, files)
		r.git("checkout", "-q", "main")
	}
	branch("readme", map[string]string{"README.md": "hello\n"})
	branch("image", map[string]string{"environments/cs101.jsonnet": testCourse("student", "busybox:2", "campus", "ann", "bob", "cyd")})
	branch("rename", map[string]string{"environments/cs101.jsonnet": testCourse("pupil", "busybox:1", "campus", "ann", "bob", "cyd")})
	branch("broken", map[string]string{"environments/cs101.jsonnet": testCourse("student", "busybox:1", "hokudia", "ann")})
	branch("removed", map[string]string{"environments/cs101.jsonnet": ""})
	return r
}

func TestPlanRevisions(t *testing.T) {
	r := planRepo(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderr   []string
		noStdout []string
	}{
		{"no differences", []string{"--base", "main", "--head", "readme", "--detailed-exitcode"}, 0,
			[]string{"Comparing main (", "→ readme (", "no host contacted", "No differences"}, nil, nil},
		{"differences, default exit code", []string{"--base", "main", "--head", "image"}, 0,
			[]string{"image busybox:1 → busybox:2"}, nil, nil},
		{"image changed", []string{"--base", "main", "--head", "image", "--detailed-exitcode"}, 2,
			[]string{"~ cs101/student  image busybox:1 → busybox:2; 3 instances replaced", "campus/h", "± container cs101_student_ann  image busybox:1 → busybox:2",
				"Diff: environments ~1; groups ~1; containers ±3."}, nil, nil},
		{"rename", []string{"--base", "main", "--head", "rename", "--detailed-exitcode"}, 2,
			[]string{"! rename? group student → pupil in environment cs101: 3 instances deleted and 3 created; 3 volumes of the old name kept, not moved"}, nil, nil},
		{"environment removed", []string{"--base", "main", "--head", "removed"}, 0,
			[]string{"- cs101  3 instances and 1 network deleted; 3 volumes kept with their data", "= volume    cs101_student_ann_home"}, nil, nil},
		{"window ended at --at", []string{"--base", "main", "--head", "readme", "--at", "2027-09-01", "--detailed-exitcode"}, 0,
			[]string{"No differences", "at 2027-09-01T00:00:00Z"}, nil, nil},
		{"head invalid", []string{"--base", "main", "--head", "broken", "--detailed-exitcode"}, 1,
			nil, []string{"head revision broken (", "1 configuration problem:", "environments/cs101.jsonnet:2:", "hokudia"}, []string{"Diff:"}},
		{"head invalid, markdown still printed", []string{"--base", "main", "--head", "broken", "-o", "markdown"}, 1,
			[]string{render.Marker, "does not validate", "```text\nenvironments/cs101.jsonnet:2:"}, []string{"environments/cs101.jsonnet:2:"}, nil},
		{"base invalid", []string{"--base", "broken", "--head", "main"}, 1,
			nil, []string{"base revision broken ("}, nil},
		{"missing base", []string{"--base", "nosuch", "--head", "main"}, 1,
			nil, []string{`--base: no such revision: `, `revision "nosuch"`}, nil},
		{"missing head", []string{"--base", "main", "--head", "nosuch/branch"}, 1,
			nil, []string{`--head: no such revision`, `"nosuch/branch"`}, nil},
		{"head defaults to HEAD", []string{"--base", "image"}, 0,
			[]string{"→ HEAD (", "image busybox:2 → busybox:1"}, nil, nil},
		{"markdown", []string{"--base", "main", "--head", "rename", "-o", "markdown"}, 0,
			[]string{render.Marker, "### Rensei plan: `main` → `rename`", "> [!WARNING]", "| containers | 3 | 0 | 0 | 3 |", "```diff\n"}, nil, nil},
		{"head without base", []string{"--head", "main"}, 1, nil, []string{"--head needs --base"}, nil},
		{"ref with base", []string{"--base", "main", "--ref", "main"}, 1, nil, []string{"--ref and --base/--head exclude each other"}, nil},
		{"hosts with base", []string{"--base", "main", "--hosts", "campus/h0"}, 1, nil, []string{"contacts no host"}, nil},
		{"bad output", []string{"--base", "main", "-o", "xml"}, 1, nil, []string{`--output "xml"`}, nil},
		{"markdown without base", []string{"-o", "markdown"}, 1, nil, []string{"markdown needs --base"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"plan", r.dir}, tt.args...)
			stdout, stderr, code := runCLI(t, args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, w := range tt.noStdout {
				if strings.Contains(stdout, w) {
					t.Errorf("stdout has %q:\n%s", w, stdout)
				}
			}
		})
	}
}

func TestPlanRevisionsJSON(t *testing.T) {
	r := planRepo(t)
	stdout, stderr, code := runCLI(t, "plan", r.dir, "--base", "main", "--head", "image", "-o", "json", "--detailed-exitcode")
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s%s", code, stdout, stderr)
	}
	var c compare.Comment
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if c.Base.Ref != "main" || len(c.Base.Commit) != 40 || c.Head.Ref != "image" || c.Counts == nil || c.Counts.Containers.Replace != 3 || c.Diff == nil {
		t.Errorf("comment = %+v", c)
	}

	stdout, _, code = runCLI(t, "plan", r.dir, "--base", "main", "--head", "broken", "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	c = compare.Comment{}
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if c.ProblemsIn != "head" || len(c.Problems) != 1 || c.Problems[0].File != "environments/cs101.jsonnet" || c.Problems[0].Line != 2 || c.Diff != nil {
		t.Errorf("comment = %+v", c)
	}
}

// TestPlanNotARepository: a directory that is no Git repository is named.
func TestPlanNotARepository(t *testing.T) {
	dir := t.TempDir()
	_, stderr, code := runCLI(t, "plan", dir, "--base", "main")
	if code != 1 || !strings.Contains(stderr, "git repository "+dir) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
