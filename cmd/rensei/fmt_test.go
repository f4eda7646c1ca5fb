package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles writes files (slash paths relative to dir) for a test.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const (
	uglyJsonnet = "local r=import \"rensei.libsonnet\";\n{name:'x',\n    groups:[ { name : \"g\" } ]}\n"
	fineJsonnet = "local r = import 'rensei.libsonnet';\n{\n  name: 'x',\n  groups: [{ name: 'g' }],\n}\n"
)

// TestFmt: fmt --check lists a badly formatted file and exits 1 without
// touching it; fmt rewrites it to the canonical form (keeping its mode)
// and lists it; afterwards --check is silent. vendor/ and other files are
// left alone.
func TestFmt(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"environments/ugly.jsonnet": uglyJsonnet,
		"lib/fine.libsonnet":        fineJsonnet,
		"vendor/x/ugly.libsonnet":   uglyJsonnet,
		".hidden/ugly.jsonnet":      uglyJsonnet,
		"README.md":                 "not { jsonnet\n",
	})
	ugly := filepath.Join(dir, "environments", "ugly.jsonnet")
	if err := os.Chmod(ugly, 0o640); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := runCLI(t, "fmt", "--check", dir)
	if code != 1 || out != ugly+"\n" || !strings.Contains(errOut, "1 file(s) not formatted") {
		t.Fatalf("fmt --check: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if got := readFile(t, ugly); got != uglyJsonnet {
		t.Fatalf("fmt --check changed the file:\n%s", got)
	}

	out, errOut, code = runCLI(t, "fmt", dir)
	if code != 0 || out != ugly+"\n" {
		t.Fatalf("fmt: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if got := readFile(t, ugly); got != fineJsonnet {
		t.Errorf("formatted:\n%s\nwant:\n%s", got, fineJsonnet)
	}
	if st, err := os.Stat(ugly); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("mode after fmt: %v %v, want 0640", st.Mode(), err)
	}
	for _, kept := range []string{"vendor/x/ugly.libsonnet", ".hidden/ugly.jsonnet"} {
		if got := readFile(t, filepath.Join(dir, kept)); got != uglyJsonnet {
			t.Errorf("%s was formatted: vendor/ and hidden directories are skipped", kept)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(ugly)); len(entries) != 1 {
		t.Errorf("temporary files left beside the formatted one: %v", entries)
	}

	out, errOut, code = runCLI(t, "fmt", "--check", dir)
	if code != 0 || out != "" || errOut != "" {
		t.Errorf("fmt --check after fmt: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

// TestFmtSyntaxError: a file that does not parse is named with line and
// column, the exit status is 1, and the other files are still formatted.
func TestFmtSyntaxError(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"environments/a.jsonnet": uglyJsonnet,
		"environments/b.jsonnet": "{\n  name: 'b',\n  groups: [\n}\n",
	})
	out, errOut, code := runCLI(t, "fmt", dir)
	broken := filepath.Join(dir, "environments", "b.jsonnet")
	if code != 1 || !strings.Contains(errOut, broken+":4:1: ") {
		t.Errorf("fmt: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if got := readFile(t, filepath.Join(dir, "environments", "a.jsonnet")); got != fineJsonnet {
		t.Errorf("the parsable file was not formatted:\n%s", got)
	}
}

// TestFmtOneFile: PATH may name a single file.
func TestFmtOneFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"x.jsonnet": uglyJsonnet})
	name := filepath.Join(dir, "x.jsonnet")
	if out, errOut, code := runCLI(t, "fmt", "--check", name); code != 1 || out != name+"\n" {
		t.Errorf("fmt --check FILE: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, "fmt", filepath.Join(dir, "missing")); code != 1 || !strings.Contains(errOut, "missing") {
		t.Errorf("fmt on a missing path: exit %d, stderr %s", code, errOut)
	}
}

// TestShippedJsonnetIsFormattedAndLintClean: the example repositories and
// the embedded library pass fmt --check and lint, as CI will require of
// the repositories people copy from them.
func TestShippedJsonnetIsFormattedAndLintClean(t *testing.T) {
	repos, err := filepath.Glob(filepath.Join("..", "..", "examples", "*", "sites"))
	if err != nil || len(repos) == 0 {
		t.Fatalf("no example repositories found: %v", err)
	}
	dirs := []string{filepath.Join("..", "..", "schema", "lib"), filepath.Join("..", "..", "site-configs")}
	for _, r := range repos {
		dirs = append(dirs, filepath.Dir(r))
	}
	for _, d := range dirs {
		changed, err := formatJsonnet(d, false)
		if err != nil {
			t.Errorf("fmt --check %s: %v", d, err)
		}
		for _, f := range changed {
			t.Errorf("%s: not formatted (rensei fmt %s)", f, d)
		}
		problems, err := lintRepository(d)
		if err != nil {
			t.Errorf("lint %s: %v", d, err)
		}
		for _, p := range problems {
			t.Errorf("lint: %s", p)
		}
	}
}
