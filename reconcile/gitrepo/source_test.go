package gitrepo_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/examples"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/schema"
	"github.com/rensei-dev/rensei/test/gittest"
)

// gitRepo copies the quickstart into a new Git repository and commits it.
func gitRepo(t *testing.T) string {
	t.Helper()
	r := gittest.New(t)
	files := map[string]string{
		// A roster in lib/ exercises importstr through the tree importer.
		"lib/roster.txt":                    "ann\nbob\n",
		"environments/extra/roster.jsonnet": "local r = importstr 'roster.txt';\n{ name: 'extra', groups: [{ name: 'g', image: 'rensei/busybox:latest', members: std.filter(function(x) x != '', std.split(r, '\\n')) }] }\n",
	}
	err := fs.WalkDir(examples.Quickstart(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(examples.Quickstart(), p)
		files[p] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Commit("quickstart", files)
	return r.Dir
}

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return gittest.Run(t, dir, args...)
}

// TestDirectoryAndRevisionAgree proves that loading a directory and loading
// the same content from Git tree objects give identical results.
func TestDirectoryAndRevisionAgree(t *testing.T) {
	dir := gitRepo(t)
	repo, err := gitrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := repo.Resolve("main")
	if err != nil {
		t.Fatal(err)
	}
	if want := git(t, dir, "rev-parse", "HEAD"); rev.SHA() != want {
		t.Fatalf("resolved %s, HEAD is %s", rev.SHA(), want)
	}
	fromDir, err := schema.Load(os.DirFS(dir), schema.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fromGit, err := schema.Load(rev.FS, schema.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fromDir, fromGit); diff != "" {
		t.Fatalf("directory and revision differ (-dir +git):\n%s", diff)
	}
	now := time.Now()
	a, _ := place.Place(fromDir, place.Options{Now: now})
	b, _ := place.Place(fromGit, place.Options{Now: now})
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("placements differ:\n%s", diff)
	}
	if len(fromGit.Environments) != 2 {
		t.Fatalf("environments: %d", len(fromGit.Environments))
	}
}

// TestRevisionIgnoresWorkTree: a revision is read from objects, never from
// uncommitted files, and older revisions stay readable.
func TestRevisionIgnoresWorkTree(t *testing.T) {
	dir := gitRepo(t)
	first := git(t, dir, "rev-parse", "HEAD")
	write(t, dir, "environments/extra/roster.jsonnet", "{ name: 'changed' }\n")
	repo, _ := gitrepo.Open(dir)
	rev, err := repo.Resolve("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	topo, err := schema.Load(rev.FS, schema.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if topo.Environments[0].Name != "extra" {
		t.Fatalf("uncommitted change leaked into the revision: %s", topo.Environments[0].Name)
	}
	git(t, dir, "commit", "-q", "-am", "second")
	old, err := repo.Resolve(first[:10])
	if err != nil {
		t.Fatal(err)
	}
	if old.SHA() != first {
		t.Fatalf("short hash resolved to %s", old.SHA())
	}
	if _, err := repo.Resolve("no-such-branch"); err == nil || !strings.Contains(err.Error(), `"no-such-branch"`) {
		t.Fatalf("missing revision: %v", err)
	}
}

func TestTreeFS(t *testing.T) {
	dir := gitRepo(t)
	repo, _ := gitrepo.Open(dir)
	rev, err := repo.Resolve("main")
	if err != nil {
		t.Fatal(err)
	}
	matches, err := fs.Glob(rev.FS, "environments/*.jsonnet")
	if err != nil || len(matches) != 1 || matches[0] != "environments/hello.jsonnet" {
		t.Fatalf("glob: %v %v", matches, err)
	}
	if _, err := fs.Stat(rev.FS, "nope"); !os.IsNotExist(err) && err == nil {
		t.Fatalf("stat of a missing file: %v", err)
	}
	data, err := fs.ReadFile(rev.FS, "lib/roster.txt")
	if err != nil || string(data) != "ann\nbob\n" {
		t.Fatalf("read: %q %v", data, err)
	}
}

// TestBareRepository: a bare repository (a daemon's remote) is read too.
func TestBareRepository(t *testing.T) {
	dir := gitRepo(t)
	bare := filepath.Join(t.TempDir(), "config.git")
	git(t, dir, "clone", "-q", "--bare", dir, bare)
	repo, err := gitrepo.Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := repo.Resolve("main")
	if err != nil {
		t.Fatal(err)
	}
	if want := git(t, dir, "rev-parse", "HEAD"); rev.SHA() != want {
		t.Fatalf("resolved %s, want %s", rev.SHA(), want)
	}
	if _, err := schema.Load(rev.FS, schema.Options{}); err != nil {
		t.Fatal(err)
	}
}
