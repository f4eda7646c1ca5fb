package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// completionEnv is an environment with no active window (always active):
// two groups, one by roster, one by replicas.
const completionEnv = `local r = import 'rensei.libsonnet';
{
  name: 'lecture',
  owner: 'lecturer@example.edu',
  networks: [r.network('lan', '198.19.2.0/24')],
  groups: [
    r.group('student', 'busybox:1') + { members: ['ann', 'bob'], replicas: 0, networks: [{ network: 'lan' }] },
    r.group('web', 'busybox:1', replicas=2) + { networks: [{ network: 'lan' }] },
  ],
}
`

// completionRepo writes a config repository and commits it.
func completionRepo(t *testing.T) *testRepo {
	t.Helper()
	r := newTestRepo(t)
	r.commit("config", map[string]string{
		"sites/lab.jsonnet":            testSites,
		"environments/lecture.jsonnet": completionEnv,
		"environments/cs101.jsonnet":   testCourse("student", "busybox:1", "cloud", "cyd"),
	})
	return r
}

// complete runs the hidden __complete command as a shell does and returns
// the candidates and the directive line; it fails the test when anything
// but cobra's own debug line reaches stderr.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	out, errOut, code := runCLI(t, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %v: exit %d\nstderr: %s", args, code, errOut)
	}
	for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if l != "" && !strings.HasPrefix(l, "Completion ended with directive:") {
			t.Errorf("__complete %v wrote to stderr: %q", args, l)
		}
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	return lines[:len(lines)-1], lines[len(lines)-1]
}

// TestCompleteFlags drives the dynamic completions the way the shell
// scripts of "rensei completion" do, through cobra's __complete.
func TestCompleteFlags(t *testing.T) {
	r := completionRepo(t)
	hosts := []string{
		"campus/h0\tunix:///nonexistent/campus.sock",
		"campus/h1\tunix:///nonexistent/campus1.sock",
		"cloud/h0\ttcp://192.0.2.1:2376",
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"hosts of plan", []string{"plan", r.dir, "--hosts", ""}, hosts},
		{"hosts by prefix", []string{"apply", r.dir, "--hosts", "cam"}, hosts[:2]},
		{"second host of a list", []string{"plan", r.dir, "--hosts", "campus/h1,"}, []string{
			"campus/h1,campus/h0\tunix:///nonexistent/campus.sock",
			"campus/h1,cloud/h0\ttcp://192.0.2.1:2376",
		}},
		{"hosts at a revision", []string{"hosts", r.dir, "--ref", "HEAD", "--hosts", "clo"}, hosts[2:]},
		{"envs of volumes list", []string{"volumes", "list", r.dir, "--env", ""}, []string{"cs101", "lecture\tlecturer@example.edu"}},
		{"envs by prefix", []string{"volumes", "prune", r.dir, "--env", "le"}, []string{"lecture\tlecturer@example.edu"}},
		{"envs of history (a Git repository at HEAD)", []string{"history", r.dir, "--env", "c"}, []string{"cs101"}},
		{"hosts of daemon (a local remote at --branch)", []string{"daemon", "--repo", r.dir, "--branch", "main", "--hosts", "campus/h0"}, hosts[:1]},
		{"a missing repository: nothing", []string{"plan", r.dir + "/missing", "--hosts", ""}, nil},
		{"a remote URL is not fetched: nothing", []string{"daemon", "--repo", "https://git.example.edu/config.git", "--hosts", ""}, nil},
		{"an unknown revision: nothing", []string{"plan", r.dir, "--ref", "nosuch", "--hosts", ""}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, directive := complete(t, tc.args...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if directive != ":4" { // ShellCompDirectiveNoFileComp
				t.Errorf("directive %q, want :4", directive)
			}
		})
	}
}

// TestCompleteBrokenRepository: a repository that does not load completes
// nothing, quietly.
func TestCompleteBrokenRepository(t *testing.T) {
	r := newTestRepo(t)
	r.write("sites/lab.jsonnet", testSites)
	r.write("environments/bad.jsonnet", "{ name: 'bad', groups: [ }\n")
	if got, _ := complete(t, "plan", r.dir, "--hosts", ""); len(got) != 0 {
		t.Errorf("completions from a broken repository: %q", got)
	}
	r.write("environments/bad.jsonnet", "error 'boom'\n")
	if got, _ := complete(t, "volumes", "list", r.dir, "--env", ""); len(got) != 0 {
		t.Errorf("completions from a repository that fails to evaluate: %q", got)
	}
}

// TestCompleteInstances: ENV/GROUP/MEMBER is completed one level at a
// time from the placed desired state, the first directory argument being
// the config repository.
func TestCompleteInstances(t *testing.T) {
	r := completionRepo(t)
	cmd := &cobra.Command{Use: "exec [PATH] ENV/GROUP/MEMBER", ValidArgsFunction: completeInstances, Run: func(*cobra.Command, []string) {}}
	cmd.Flags().String("ref", "", "")
	for _, tc := range []struct {
		args       []string
		toComplete string
		want       []string
		directive  cobra.ShellCompDirective
	}{
		{[]string{r.dir}, "", []string{"cs101/", "lecture/"}, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace},
		{[]string{r.dir}, "lec", []string{"lecture/"}, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace},
		{[]string{r.dir}, "lecture/", []string{"lecture/student/", "lecture/web/"}, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace},
		{[]string{r.dir}, "lecture/student/", []string{"lecture/student/ann", "lecture/student/bob"}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{r.dir}, "lecture/web/1", []string{"lecture/web/1"}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{r.dir}, "nosuch/", nil, cobra.ShellCompDirectiveNoFileComp},
		{[]string{r.dir + "/missing"}, "", nil, cobra.ShellCompDirectiveNoFileComp},
	} {
		got, directive := completeInstances(cmd, tc.args, tc.toComplete)
		var names []string
		for _, c := range got {
			name, desc, _ := strings.Cut(c, "\t")
			names = append(names, name)
			if strings.Count(name, "/") == 2 && !strings.HasSuffix(name, "/") && !strings.Contains(desc, "/h") {
				t.Errorf("%q: instance %q is not described by its host: %q", tc.toComplete, name, desc)
			}
		}
		if !slices.Equal(names, tc.want) || directive != tc.directive {
			t.Errorf("%v %q: got %q (directive %d), want %q (directive %d)", tc.args, tc.toComplete, names, directive, tc.want, tc.directive)
		}
	}
}

// TestCompletionScripts: cobra's completion command writes the scripts.
func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{"bash": "# bash completion V2 for rensei", "zsh": "#compdef rensei", "fish": "# fish completion for rensei"} {
		out, errOut, code := runCLI(t, "completion", shell)
		if code != 0 || !strings.HasPrefix(out, want) {
			t.Errorf("completion %s: exit %d, stderr %s\n%.200s", shell, code, errOut, out)
		}
	}
}
