package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/reconcile/compare"
)

// nextTermCourse is cs101 with its window opening on 2027-09-01.
func nextTermCourse(members ...string) string {
	return `local r = import 'rensei.libsonnet';
r.course('cs101', ['` + strings.Join(members, "', '") + `'], sites=['campus'], subnet='198.19.1.0/24', image='busybox:1', active={ from: '2027-09-01' })
`
}

// TestPlanRevisionsScheduled: adding a student to a course whose window
// has not opened is not "No differences": the plan says what happens
// when it opens. --at after the opening compares as usual.
func TestPlanRevisionsScheduled(t *testing.T) {
	r := newTestRepo(t)
	r.commit("next term", map[string]string{"sites/lab.jsonnet": testSites, "environments/cs101.jsonnet": nextTermCourse("ann", "bob")})
	r.git("checkout", "-q", "-b", "add")
	r.commit("add dan", map[string]string{"environments/cs101.jsonnet": nextTermCourse("ann", "bob", "dan")})
	r.git("checkout", "-q", "main")

	stdout, stderr, code := runCLI(t, "plan", r.dir, "--base", "main", "--head", "add", "--detailed-exitcode", "--at", "2027-01-01")
	if code != 2 || strings.Contains(stdout, "No differences") || !strings.Contains(stdout, "~ cs101  when it opens 2027-09-01: containers +1; volumes +1 (+ cs101_student_dan on campus/h") {
		t.Errorf("exit %d, want 2 and what the opening does:\n%s%s", code, stdout, stderr)
	}
	stdout, _, _ = runCLI(t, "plan", r.dir, "--base", "main", "--head", "add", "--at", "2027-01-01", "-o", "markdown")
	if !strings.Contains(stdout, "when it opens 2027-09-01: containers +1") {
		t.Errorf("markdown comment lacks the opening:\n%s", stdout)
	}
	stdout, _, _ = runCLI(t, "plan", r.dir, "--base", "main", "--head", "add", "--at", "2027-01-01", "-o", "json")
	var c compare.Comment
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		t.Fatal(err)
	}
	if c.Diff == nil || len(c.Diff.Environments) != 1 || len(c.Diff.Environments[0].Fields) != 1 || c.Diff.Environments[0].Fields[0].Name != "when it opens 2027-09-01" {
		t.Errorf("JSON diff: %+v", c.Diff)
	}
	stdout, _, code = runCLI(t, "plan", r.dir, "--base", "main", "--head", "add", "--at", "2027-09-02", "--detailed-exitcode")
	if code != 2 || strings.Contains(stdout, "when it opens") || !strings.Contains(stdout, "+ container cs101_student_dan") {
		t.Errorf("after the opening: exit %d\n%s", code, stdout)
	}
}
