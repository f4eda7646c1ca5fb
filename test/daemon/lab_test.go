package daemon_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/daemon"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/test/lab"
	"github.com/rensei-dev/rensei/test/lab/labtest"
)

// labContainers lists the managed containers of every lab site with the
// docker CLI, as an operator would: "site-a: name".
func labContainers(t *testing.T, st *lab.Status) []string {
	t.Helper()
	var out []string
	for _, s := range st.Sites {
		cmd := exec.Command("docker", "-H", s.Docker, "ps", "-a", "--filter", "label=io.rensei.managed=true", "--format", "{{.Names}} {{.State}}")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker ps on %s: %v\n%s", s.Name, err, b)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if name, state, ok := strings.Cut(line, " "); ok && state == "running" {
				out = append(out, s.Name+": "+name)
			}
		}
	}
	return out
}

// TestLab runs the daemon against the three-site lab's real engines (and
// netlink in the sites' namespaces) with an hour's interval: every change
// below is picked up through fsnotify on the bare repository's refs or
// Docker events.
func TestLab(t *testing.T) {
	st := labtest.ForTest(t, 3)
	sites, err := os.ReadFile("../../site-configs/lab.jsonnet")
	if err != nil {
		t.Fatalf("the lab's site definitions: %v", err)
	}
	repo := newConfigRepo(t)
	c1 := repo.push("two students", map[string]string{"sites/lab.jsonnet": string(sites), "environments/course.jsonnet": course("ann", "bob")})
	remote, err := gitrepo.OpenRemote(repo.bare, t.TempDir(), gitrepo.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{
		Remote:    remote,
		Publisher: &status.Publisher{Remote: remote},
		Interval:  time.Hour,
		Log:       newDaemonLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	atCommit := func(c string, containers int) func() bool {
		return func() bool {
			if len(labContainers(t, st)) != containers {
				return false
			}
			rs := repo.reports()
			if len(rs) != 3 {
				return false
			}
			for _, r := range rs {
				if r.Commit != c || !r.Converged || r.Refused != nil {
					return false
				}
			}
			return true
		}
	}
	eventually(t, 60*time.Second, "two containers, three converged reports at "+c1, atCommit(c1, 2))

	start := time.Now()
	c2 := repo.push("add cho", map[string]string{"environments/course.jsonnet": course("ann", "bob", "cho")})
	eventually(t, 30*time.Second, "cho created and reported", atCommit(c2, 3))
	t.Logf("push to converged and reported: %s", time.Since(start).Round(time.Millisecond))

	before := labContainers(t, st)
	bad := repo.push("broken", map[string]string{"environments/course.jsonnet": "{ name: 'course', groups: [ \n"})
	eventually(t, 30*time.Second, "the broken commit reported", func() bool {
		for _, r := range repo.reports() {
			if r.Refused == nil || r.Refused.Commit != bad || !strings.Contains(r.Refused.Reason, "course.jsonnet") {
				return false
			}
		}
		return true
	})
	if after := labContainers(t, st); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("the broken commit changed the lab: %v → %v", before, after)
	}

	c3 := repo.push("fix", map[string]string{"environments/course.jsonnet": course("ann", "bob", "cho", "dai")})
	eventually(t, 30*time.Second, "the fix converged and reported", atCommit(c3, 4))

	// Drift: remove a managed container behind the daemon's back.
	victim := labContainers(t, st)[0]
	site, name, _ := strings.Cut(victim, ": ")
	s, _ := st.Site(site)
	commits := repo.statusCommits()
	start = time.Now()
	if b, err := exec.Command("docker", "-H", s.Docker, "rm", "-f", name).CombinedOutput(); err != nil {
		t.Fatalf("docker rm: %v\n%s", err, b)
	}
	eventually(t, 30*time.Second, name+" recreated and the repair reported", func() bool {
		if len(labContainers(t, st)) != 4 || repo.statusCommits() == commits {
			return false
		}
		for _, r := range repo.reports() {
			for _, a := range r.Applied {
				if a.Name == name && r.Commit == c3 {
					return true
				}
			}
		}
		return false
	})
	t.Logf("container removed to repaired and reported: %s", time.Since(start).Round(time.Millisecond))
	repo.git(repo.bare, "fsck", "--strict")
}
