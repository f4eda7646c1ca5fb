package docs_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/fake"
	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/schema"
	"github.com/rensei-dev/rensei/test/gittest"
)

// prBranches are the pull requests docs/pull-requests.md shows, made on
// examples/federated-lecture: each an edit of one file.
var prBranches = map[string]struct{ file, old, new string }{
	// A student more, and the course page on a new image.
	"pr": {"environments/lecture.jsonnet", "r.group('www', 'rensei/busybox:latest')", "r.group('www', 'rensei/busybox:2')"},
	// The group www renamed web.
	"rename": {"environments/lecture.jsonnet", "r.group('www', ", "r.group('web', "},
	// A site that does not exist.
	"broken": {"environments/lecture.jsonnet", "sites=['site-a', 'site-b']", "sites=['site-a', 'site-z']"},
	// The environment renamed; the students' group renamed (their homes
	// stay behind).
	"rename-env":      {"environments/lecture.jsonnet", "  'lecture',\n", "  'lecture-b',\n"},
	"rename-students": {"environments/lecture.jsonnet", "\n) + {\n", "\n) + r.withGroup('student', { name: 'pupil' }) + {\n"},
}

// prRepo is examples/federated-lecture committed on main, with a branch
// per pull request of prBranches.
func prRepo(t *testing.T) string {
	t.Helper()
	r := gittest.New(t)
	src := filepath.Join(repo, "examples", "federated-lecture")
	files := map[string]string{}
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(src, p)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Commit("the lecture", files)
	for branch, edit := range prBranches {
		r.Git("checkout", "-q", "-b", branch, "main")
		changed := map[string]string{}
		body := files[edit.file]
		if !strings.Contains(body, edit.old) {
			t.Fatalf("examples/federated-lecture/%s no longer contains %q: update prBranches and docs/pull-requests.md", edit.file, edit.old)
		}
		changed[edit.file] = strings.Replace(body, edit.old, edit.new, 1)
		if branch == "pr" {
			changed["environments/roster.csv"] = files["environments/roster.csv"] + "chie,Chie Kobayashi\n"
		}
		r.Commit(branch, changed)
	}
	r.Git("checkout", "-q", "main")
	return r.Dir
}

// transcripts are the docs whose "$ rensei …" examples are replayed, and
// the repository each is replayed in.
var transcripts = map[string]func(*testing.T) string{
	"docs/pull-requests.md": prRepo,
}

var hash = regexp.MustCompile(`\b[0-9a-f]{7,40}\b`)

// normal is output with commit hashes and trailing spaces out of the way.
func normal(s string) string {
	lines := strings.Split(hash.ReplaceAllString(s, "HASH"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// TestTranscripts replays the console examples of the docs: each "$
// rensei …" line is run and its output (standard output) must be the
// lines the example shows below it, up to commit hashes; "$ echo $?"
// shows the exit status.
func TestTranscripts(t *testing.T) {
	for doc, setup := range transcripts {
		t.Run(doc, func(t *testing.T) {
			dir := setup(t)
			n := 0
			for _, b := range blocks(t, doc) {
				if !strings.HasPrefix(strings.TrimSpace(b.text), "$ ") {
					continue
				}
				code := 0
				lines := strings.Split(b.text, "\n")
				for i := 0; i < len(lines); i++ {
					cmd, ok := strings.CutPrefix(lines[i], "$ ")
					if !ok {
						continue
					}
					var want []string
					for i+1 < len(lines) && !strings.HasPrefix(lines[i+1], "$ ") {
						i++
						want = append(want, lines[i])
					}
					args := strings.Fields(cmd)
					var got string
					switch {
					case cmd == "echo $?":
						got = strconv.Itoa(code)
					case args[0] == "rensei":
						n++
						got, _, code = rensei(t, dir, args[1:]...)
					default:
						t.Fatalf("%s: cannot replay %q", b, cmd)
					}
					if diff := cmp.Diff(normal(strings.Join(want, "\n")), normal(got)); diff != "" {
						t.Errorf("%s: %s: the output shown is not what it prints (-shown +printed):\n%s", b, cmd, diff)
					}
				}
			}
			if n == 0 {
				t.Fatalf("%s has no transcript to replay", doc)
			}
		})
	}
}

// TestRenamesAgree: a rename is flagged alike by plan --base (revision
// against revision) and by a live plan (the base applied to hosts, the
// head planned against them): both pair removals and creations by the
// content digest, as docs/pull-requests.md says.
func TestRenamesAgree(t *testing.T) {
	ctx := context.Background()
	dir := prRepo(t)
	gr, err := gitrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const scope = "docs"
	now := time.Now()
	opts := schema.Options{Timeout: 10 * time.Second}
	desired := func(ref string) *engine.Revision {
		t.Helper()
		rev, err := gr.Resolve(ref)
		if err != nil {
			t.Fatal(err)
		}
		r, err := engine.Load(ctx, engine.Source{Name: ref, FS: rev.FS, Commit: rev.SHA()}, nil, opts, scope)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	base, err := desired("main").At(now)
	if err != nil {
		t.Fatal(err)
	}
	for _, branch := range []string{"rename", "rename-env", "rename-students"} {
		t.Run(branch, func(t *testing.T) {
			comment, err := engine.CompareRevisions(ctx, gr, "main", branch, opts, scope, now)
			if err != nil || comment.Diff == nil {
				t.Fatalf("compare: %v %+v", err, comment)
			}
			head, err := desired(branch).At(now)
			if err != nil {
				t.Fatal(err)
			}
			live := map[string]drivers.Host{}
			for _, h := range base.Hosts {
				live[h.Key] = fake.New(h.Key).DriversFor(scope)
			}
			if _, err := apply.Apply(ctx, plan.Compute(base, engine.ObserveScope(ctx, live, scope)), live, apply.Options{}); err != nil {
				t.Fatalf("apply the base: %v", err)
			}
			livePlan := plan.Compute(head, engine.ObserveScope(ctx, live, scope))
			if len(comment.Diff.Renames) != 1 {
				t.Fatalf("plan --base flags %d renames, want one: %+v", len(comment.Diff.Renames), comment.Diff.Renames)
			}
			if diff := cmp.Diff(comment.Diff.Renames, livePlan.Renames); diff != "" {
				t.Errorf("plan --base and the live plan flag different renames (-base +live):\n%s", diff)
			}
			t.Log(comment.Diff.Renames[0])
		})
	}
}
