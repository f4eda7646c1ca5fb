package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/test/lab/labtest"
)

// stickySites is the lab's site file with only the given sites: IT adds
// site-c's host mid-semester.
func stickySites(letters ...string) string {
	var b strings.Builder
	b.WriteString("local r = import 'rensei.libsonnet';\n[\n")
	for _, l := range letters {
		n := int(l[0]-'a') + 1
		fmt.Fprintf(&b, `  r.site('site-%s', [r.host('docker', docker='unix:///run/rensei-lab/site-%s/docker.sock', underlay='198.18.0.%d', netns='rs-lab-%s', capacity={ cpus: 4, memory: '8Gi', containers: 50 })]),
`, l, l, n, l)
	}
	b.WriteString("]\n")
	return b.String()
}

// stickyCourse is 30 students with a home volume each, spread over every site.
func stickyCourse(members []string) string {
	q := make([]string, len(members))
	for i, m := range members {
		q[i] = "'" + m + "'"
	}
	return fmt.Sprintf(`{
  name: 'sticky',
  groups: [{
    name: 'student',
    image: 'rensei/busybox:latest',
    command: ['sleep', 'infinity'],
    members: [%s],
    volumes: [{ name: 'home', path: '/home/student' }],
    resources: { cpus: 0.05, memory: '16Mi' },
  }],
}
`, strings.Join(q, ", "))
}

// TestHostAddedMidSemester: thirty students write their homes; IT adds a
// host; after apply every student is on the host they were on, with their
// home's contents, although the configuration alone would move some (eval
// shows where). A student who leaves keeps their home until the course
// ends: volumes prune refuses it without --force.
func TestHostAddedMidSemester(t *testing.T) {
	st := labtest.ForTest(t, 3)
	docker := map[string]string{}
	for _, s := range st.Sites {
		docker[s.Name] = s.Docker
	}
	repo := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(repo, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	members := make([]string, 30)
	for i := range members {
		members[i] = fmt.Sprintf("s%02d", i)
	}
	write("sites/lab.jsonnet", stickySites("a", "b"))
	write("environments/sticky.jsonnet", stickyCourse(members))
	mustRensei(t, 0, "apply", "--yes", repo)

	// Each student writes their home; where each one is.
	site := map[string]string{}
	for s, names := range evaluate(t, repo).placement() {
		for _, n := range names {
			site[n] = s
		}
	}
	for _, m := range members {
		c := "sticky_student_" + m
		must(t, "docker", "-H", docker[site[c]], "exec", c, "sh", "-c", "echo 'notes of "+m+"' > /home/student/notes.txt")
	}

	write("sites/lab.jsonnet", stickySites("a", "b", "c"))
	wouldMove := 0
	for s, names := range evaluate(t, repo).placement() {
		for _, n := range names {
			if site[n] != s {
				wouldMove++
			}
		}
	}
	if wouldMove == 0 {
		t.Fatal("the configuration alone moves nobody to the new host: the test proves nothing")
	}
	plan := mustRensei(t, 0, "plan", repo)
	if strings.Contains(plan.stdout, "sticky_student_") {
		t.Errorf("the plan touches students after a host was added:\n%s", plan.stdout)
	}
	mustRensei(t, 0, "apply", "--yes", repo)
	for _, m := range members {
		c := "sticky_student_" + m
		got, err := command("docker", "-H", docker[site[c]], "exec", c, "cat", "/home/student/notes.txt")
		if err != nil || strings.TrimSpace(got) != "notes of "+m {
			t.Errorf("%s on %s after the host was added: %q, %v", c, site[c], got, err)
		}
	}
	// New students use the new host.
	newcomers := []string{"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7"}
	write("environments/sticky.jsonnet", stickyCourse(append(append([]string{}, members...), newcomers...)))
	mustRensei(t, 0, "apply", "--yes", repo)
	onC := strings.TrimSpace(must(t, "docker", "-H", docker["site-c"], "ps", "-q", "--filter", "label=io.rensei.env=sticky"))
	if onC == "" {
		t.Error("no new student on the new host")
	}
	t.Logf("30 students, site-c added: %d would have moved (new, empty home) by the configuration alone, 0 did", wouldMove)

	// s00 leaves the course: the home stays until the course ends.
	write("environments/sticky.jsonnet", stickyCourse(append(append([]string{}, members[1:]...), newcomers...)))
	mustRensei(t, 0, "apply", "--yes", repo)
	prune := mustRensei(t, 0, "volumes", "prune", repo, "--env", "sticky", "--older-than", "0s", "--yes")
	if !strings.Contains(prune.stdout, "Nothing to delete.") || !strings.Contains(prune.stdout, "environment is active: its data is kept") {
		t.Errorf("prune of the running course:\n%s", prune.stdout)
	}
	home := "sticky_student_s00_home"
	if _, err := command("docker", "-H", docker[site["sticky_student_s00"]], "volume", "inspect", home); err != nil {
		t.Fatalf("%s is gone after a prune without --force: %v", home, err)
	}
	forced := mustRensei(t, 0, "volumes", "prune", repo, "--env", "sticky", "--older-than", "0s", "--yes", "--force")
	if !strings.Contains(forced.stdout, "Deleted 1 volume(s), 0 failed.") {
		t.Errorf("prune --force:\n%s", forced.stdout)
	}
}
