package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLint: lint reports an unused local, a field the embedded library
// does not have and a syntax error, each as file:line:column under PATH,
// and exits 1; imports from lib/, relative paths, importstr and the
// embedded library resolve; vendor/ is not linted.
func TestLint(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"sites/a.jsonnet": testSites,
		"environments/cs101.jsonnet": `local r = import 'rensei.libsonnet';
local roster = import 'roster.libsonnet';
local unused = 'nobody reads me';
local course = import '../lib/course.libsonnet';
r.course('cs101', r.members(roster), sites=['campus'], subnet='198.19.1.0/24') + { owner: course.owner }
`,
		"environments/typo.jsonnet": `local r = import 'rensei.libsonnet';
r.course('x', [], sites=['campus'], subnet='198.19.2.0/24') + { owner: r.ownr }
`,
		"environments/broken.jsonnet": "{\n  name: 'b',\n  groups: [\n}\n",
		"lib/roster.libsonnet":        "std.split(importstr 'roster.txt', '\\n')\n",
		"lib/roster.txt":              "ann\nbob\n",
		"lib/course.libsonnet":        "{ owner: 'lecturer@example.edu' }\n",
		"vendor/x/bad.libsonnet":      "local unusedInVendor = 1;\n{}\n",
	})
	out, errOut, code := runCLI(t, "lint", dir)
	env := filepath.Join(dir, "environments")
	want := []string{
		filepath.Join(env, "broken.jsonnet") + ":4:1: ",
		filepath.Join(env, "cs101.jsonnet") + ":3:7: Unused variable: unused",
		filepath.Join(env, "typo.jsonnet") + `:2:72: Indexed object has no field "ownr"`,
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != len(want) || !strings.Contains(errOut, "3 lint problem(s)") {
		t.Fatalf("lint: exit %d\nstdout:\n%s\nstderr: %s", code, out, errOut)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %q, want it to start with %q", i+1, lines[i], w)
		}
	}

	// Fixed, the repository is clean.
	writeFiles(t, dir, map[string]string{
		"environments/cs101.jsonnet": strings.Replace(readFile(t, filepath.Join(env, "cs101.jsonnet")), "local unused = 'nobody reads me';\n", "", 1),
		"environments/typo.jsonnet":  "local r = import 'rensei.libsonnet';\nr.course('x', [], sites=['campus'], subnet='198.19.2.0/24')\n",
	})
	if err := os.Remove(filepath.Join(env, "broken.jsonnet")); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCLI(t, "lint", dir); code != 0 || out != "" || errOut != "" {
		t.Errorf("lint of a clean repository: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

// TestLintStaysInTheRepository: an import that leaves the repository, by
// path or by a symbolic link, is a finding, and the file is not read.
func TestLintStaysInTheRepository(t *testing.T) {
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"secret.libsonnet": "{ secret: 'top' }\n"})
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"environments/a.jsonnet": "(import '../../" + filepath.Base(outside) + "/secret.libsonnet').secret\n",
		"environments/b.jsonnet": "(import 'link.libsonnet').secret\n",
	})
	if err := os.Symlink(filepath.Join(outside, "secret.libsonnet"), filepath.Join(dir, "environments", "link.libsonnet")); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "lint", dir)
	if code != 1 || strings.Count(out, "\n") != 2 ||
		!strings.Contains(out, filepath.Join(dir, "environments", "a.jsonnet")+":1:2: ") ||
		!strings.Contains(out, filepath.Join(dir, "environments", "b.jsonnet")+":1:2: ") {
		t.Errorf("lint: exit %d\nstdout:\n%s\nstderr: %s", code, out, errOut)
	}
}

// TestLintNotADirectory: PATH must be a config repository.
func TestLintNotADirectory(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.jsonnet": "{}\n"})
	for _, p := range []string{filepath.Join(dir, "a.jsonnet"), filepath.Join(dir, "missing")} {
		if _, errOut, code := runCLI(t, "lint", p); code != 1 || !strings.Contains(errOut, p) {
			t.Errorf("lint %s: exit %d, stderr %s", p, code, errOut)
		}
	}
}
