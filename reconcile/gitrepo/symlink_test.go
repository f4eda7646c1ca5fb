package gitrepo_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/schema"
	"github.com/rensei-dev/rensei/test/gittest"
)

// jbRepo is a config repository in jsonnet-bundler's layout: the package
// in vendor/github.com/…, a relative link vendor/netlib to it (as jb
// makes), and a file link from lib/; plus extra links, committed.
func jbRepo(t *testing.T, links map[string]string, files map[string]string) string {
	t.Helper()
	r := gittest.New(t)
	all := map[string]string{
		"sites/s.jsonnet": "local r = import 'rensei.libsonnet';\nr.site('campus', [r.host('h1', underlay='198.18.0.1')])\n",
		"vendor/github.com/acme/netlib/main.libsonnet": "{ subnet: '198.19.7.0/24' }\n",
		"environments/x.jsonnet": "local n = import 'netlib/main.libsonnet';\nlocal m = import 'net.libsonnet';\n" +
			"{ name: 'x', networks: [{ name: 'a', subnet: n.subnet }], labels: { same: std.toString(n == m) } }\n",
	}
	for k, v := range files {
		all[k] = v
	}
	for name, body := range all {
		r.Write(name, body)
	}
	for name, target := range map[string]string{
		"vendor/netlib":     "github.com/acme/netlib",
		"lib/net.libsonnet": "../vendor/netlib/main.libsonnet",
	} {
		links[name] = target
	}
	for name, target := range links {
		if err := os.MkdirAll(filepath.Join(r.Dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(r.Dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	r.Git("add", "-A")
	r.Git("commit", "-q", "-m", "jb layout")
	return r.Dir
}

// loadBoth loads the work tree (through os.Root, as the CLI does) and
// HEAD's tree objects.
func loadBoth(t *testing.T, dir string) (fromDir, fromGit *schema.Topology, dirErr, gitErr error) {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	repo, err := gitrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := repo.Resolve("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	fromDir, dirErr = schema.Load(root.FS(), schema.Options{})
	fromGit, gitErr = schema.Load(rev.FS, schema.Options{})
	return
}

// TestSymlinksAgree: links that stay inside the repository are followed
// identically from a directory and from a revision; a link that leaves it
// is the same clear problem from both.
func TestSymlinksAgree(t *testing.T) {
	fromDir, fromGit, dirErr, gitErr := loadBoth(t, jbRepo(t, map[string]string{}, nil))
	if dirErr != nil || gitErr != nil {
		t.Fatalf("directory: %v\nrevision: %v", dirErr, gitErr)
	}
	if diff := cmp.Diff(fromDir, fromGit); diff != "" {
		t.Fatalf("directory and revision differ (-dir +git):\n%s", diff)
	}
	if e := fromGit.Environments[0]; e.Networks[0].Subnet != "198.19.7.0/24" || e.Labels["same"] != "true" {
		t.Fatalf("through the links: %+v", e)
	}

	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.libsonnet"), []byte("{ subnet: '10.0.0.0/8' }"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"relative": "../../" + filepath.Base(outside),
		"absolute": outside,
	} {
		t.Run(name, func(t *testing.T) {
			dir := jbRepo(t, map[string]string{"vendor/evil": target}, map[string]string{
				"environments/y.jsonnet": "local e = import 'evil/secret.libsonnet';\n{ name: 'y', networks: [{ name: 'a', subnet: e.subnet }] }\n",
			})
			_, _, dirErr, gitErr := loadBoth(t, dir)
			want := "environments/y.jsonnet:1: RUNTIME ERROR: vendor/evil is a symbolic link to " + target + ", outside the repository"
			for from, err := range map[string]error{"directory": dirErr, "revision": gitErr} {
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("%s: want %q, got %v", from, want, err)
				}
			}
			if dirErr != nil && gitErr != nil && dirErr.Error() != gitErr.Error() {
				t.Errorf("directory and revision say different things:\n%s\n%s", dirErr, gitErr)
			}
		})
	}
}

// TestTreeFSLinks: the tree's fs.ReadLinkFS, and what it does with loops.
func TestTreeFSLinks(t *testing.T) {
	dir := jbRepo(t, map[string]string{"loop/a": "b", "loop/b": "a"}, nil)
	repo, _ := gitrepo.Open(dir)
	rev, err := repo.Resolve("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if target, err := fs.ReadLink(rev.FS, "vendor/netlib"); err != nil || target != "github.com/acme/netlib" {
		t.Errorf("readlink: %q %v", target, err)
	}
	if fi, err := fs.Lstat(rev.FS, "vendor/netlib"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("lstat: %v %v", fi, err)
	}
	if fi, err := fs.Stat(rev.FS, "vendor/netlib"); err != nil || !fi.IsDir() {
		t.Errorf("stat through the link: %v %v", fi, err)
	}
	entries, err := fs.ReadDir(rev.FS, "vendor/netlib")
	if err != nil || len(entries) != 1 || entries[0].Name() != "main.libsonnet" {
		t.Errorf("readdir through the link: %v %v", entries, err)
	}
	if _, err := fs.ReadFile(rev.FS, "loop/a"); err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
		t.Errorf("a loop: %v", err)
	}
}
