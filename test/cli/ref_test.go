package cli_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/test/gittest"
)

// git runs git in dir and returns its trimmed output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return gittest.Run(t, dir, args...)
}

// TestRefReadsCommittedTree makes the config repository a Git repository,
// changes the work tree without committing, and checks that --ref reads
// the commit (not the work tree), and that a revision that does not exist
// is an error naming it.
func TestRefReadsCommittedTree(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is not installed")
	}
	cli := engine(t)
	r := newRepo(t, cli)
	h := hello{Name: r.env, Subnet: freeSubnet(t, cli), Replicas: 2, NoShell: true}
	r.writeHello(h)
	git(t, r.dir, "init", "-q")
	git(t, r.dir, "add", "-A")
	git(t, r.dir, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "two web servers")
	head := git(t, r.dir, "rev-parse", "HEAD")

	h.Replicas = 3
	r.writeHello(h) // not committed

	webs := func(args ...string) []string {
		t.Helper()
		res := r.rensei(append([]string{"plan", "-o", "json"}, args...)...)
		wantExit(t, res, 0)
		p := parsePlan(t, res.stdout)
		var out []string
		for _, s := range p.stepsOf(r.env) {
			if name, ok := strings.CutPrefix(s, "create container "); ok && strings.HasPrefix(name, r.env+"_web_") {
				out = append(out, name)
			}
		}
		if args[0] == "--ref" && p.Commit != head {
			t.Errorf("plan --ref HEAD: commit %q, want %s", p.Commit, head)
		}
		return out
	}
	committed := []string{r.container("web", "0"), r.container("web", "1")}
	worktree := append(slices.Clone(committed), r.container("web", "2"))
	if got := webs("--ref", "HEAD", r.dir); !slices.Equal(got, committed) {
		t.Errorf("plan --ref HEAD plans %v, want the committed %v", got, committed)
	}
	if got := webs(r.dir); !slices.Equal(got, worktree) {
		t.Errorf("plan without --ref plans %v, want the work tree's %v", got, worktree)
	}

	res := r.rensei("validate", "--ref", "HEAD", r.dir)
	wantExit(t, res, 0)
	wantContains(t, "validate --ref HEAD", res.stdout, "2 containers placed")

	res = r.rensei("plan", "--ref", "nosuch", r.dir)
	wantExit(t, res, 1)
	wantContains(t, "plan --ref nosuch", res.stderr, "nosuch")
	if objs := envObjects(t, cli, r.env); len(objs) > 0 {
		t.Errorf("plan changed the engine: %v", objs)
	}
}
