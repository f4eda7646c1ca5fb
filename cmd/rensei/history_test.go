package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/reconcile/history"
)

// historyRepo is planRepo's main branch plus two commits and a status
// branch with one report.
func historyRepo(t *testing.T, status bool) (*testRepo, string) {
	t.Helper()
	r := planRepo(t)
	c := r.commit("cs101: busybox 2", map[string]string{"environments/cs101.jsonnet": testCourse("student", "busybox:2", "campus", "ann", "bob", "cyd")})
	r.commit("docs", map[string]string{"README.md": "config\n"})
	if status {
		r.git("checkout", "-q", "--orphan", "rensei/status")
		r.git("rm", "-rq", "--cached", ".")
		os.RemoveAll(filepath.Join(r.dir, "sites"))
		os.RemoveAll(filepath.Join(r.dir, "environments"))
		r.commit("report: campus/h0 converged", map[string]string{
			"reports/campus/h0.json": `{"host":"h0","site":"campus","commit":"` + c + `","converged":true,"drift":[],"failed":[],
"applied":[{"kind":"container","name":"cs101_student_ann","env":"cs101","action":"replace","reason":"image changed"}]}`,
		})
		r.git("checkout", "-q", "-f", "main")
	}
	return r, c
}

func TestHistoryCLI(t *testing.T) {
	r, c := historyRepo(t, true)
	stdout, stderr, code := runCLI(t, "history", r.dir, "--env", "cs101")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{
		"History of environment cs101 at HEAD (",
		"commit " + c[:12] + "  test <test@example.edu>  unsigned",
		"| cs101: busybox 2",
		"~ group cs101/student: image busybox:1 → busybox:2; 3 instances replaced",
		"report campus/h0  converged at " + c[:12] + ", 1 step applied",
		"applied: replace container cs101_student_ann: image changed",
		"window cs101 closes: torn down, volumes kept (scheduled)",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("missing %q in:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "| docs") {
		t.Errorf("a commit that changes no environment is listed:\n%s", stdout)
	}
	// The first commit comes before the change, the report after it.
	if i, j := strings.Index(stdout, "| base"), strings.Index(stdout, "report campus/h0"); i < 0 || j < i {
		t.Errorf("not in time order:\n%s", stdout)
	}

	stdout, stderr, code = runCLI(t, "history", r.dir, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var tl history.Timeline
	if err := json.Unmarshal([]byte(stdout), &tl); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	kinds := map[string]int{}
	for _, e := range tl.Entries {
		kinds[e.Kind]++
	}
	if !tl.StatusFound || kinds["commit"] != 2 || kinds["report"] != 1 || kinds["window"] != 1 {
		t.Errorf("status found %v, entries %v", tl.StatusFound, kinds)
	}
}

func TestHistoryCLIErrors(t *testing.T) {
	r, _ := historyRepo(t, false)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"no status branch", []string{"history", r.dir}, 0, "Note: no status branch yet (rensei/status)", ""},
		{"other status branch", []string{"history", r.dir, "--status-branch", "audit"}, 0, "no status branch yet (audit)", ""},
		{"unknown env", []string{"history", r.dir, "--env", "nosuch"}, 0, `no commit of HEAD changed environment "nosuch"`, ""},
		{"bad since", []string{"history", r.dir, "--since", "last week"}, 1, "", `--since "last week"`},
		{"missing ref", []string{"history", r.dir, "--ref", "nosuch"}, 1, "", `revision "nosuch"`},
		{"missing keyring", []string{"history", r.dir, "--keyring", filepath.Join(r.dir, "none.asc")}, 1, "", "--keyring"},
		{"bad output", []string{"history", r.dir, "-o", "markdown"}, 1, "", `--output "markdown"`},
		{"not a repository", []string{"history", t.TempDir()}, 1, "", "git repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
		})
	}
}
