package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateChecksWindowOpenings: an environment scheduled for later is
// placed as it will be when its window opens, so a conflict that would
// break the repository next term is reported now, with file and line.
func TestValidateChecksWindowOpenings(t *testing.T) {
	r := newTestRepo(t)
	r.write("sites/a.jsonnet", "{ name: 'a', hosts: [{ name: 'h', docker: 'unix:///nonexistent.sock' }] }\n")
	r.write("environments/now.jsonnet", "{ name: 'now', networks: [{ name: 'lan', subnet: '198.19.10.0/24' }],\n  groups: [{ name: 'g', image: 'busybox:1', replicas: 1, networks: [{ network: 'lan' }] }] }\n")
	r.write("environments/next.jsonnet", "{\n  name: 'next-term',\n  active: { from: '2031-01-01' },\n  networks: [{ name: 'lan', subnet: '198.19.10.128/25' }],\n  groups: [{ name: 'g', image: 'busybox:1', replicas: 1, networks: [{ network: 'lan' }] }],\n}\n")
	out, errOut, code := runCLI(t, "validate", "--at", "2030-06-01", r.dir)
	if code != 1 || !strings.Contains(errOut, ": from 2031-01-01, when a window opens:") ||
		!strings.Contains(errOut, "overlaps network") || !strings.Contains(errOut, "environments/") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if _, _, code := runCLI(t, "validate", "--at", "2031-06-01", r.dir); code != 1 {
		t.Fatalf("at the window itself: exit %d, want 1", code)
	}
}

// TestValidateDirectoryAndRevisionAgree: a jsonnet-bundler layout (links in
// vendor/ and lib/ that stay inside the repository) validates the same
// from the directory and from a revision; a link that leaves the
// repository is the same problem from both.
func TestValidateDirectoryAndRevisionAgree(t *testing.T) {
	r := newTestRepo(t)
	r.write("sites/a.jsonnet", "{ name: 'a', hosts: [{ name: 'h', docker: 'unix:///nonexistent.sock' }] }\n")
	r.write("vendor/github.com/acme/netlib/main.libsonnet", "{ subnet: '198.19.7.0/24' }\n")
	r.write("environments/x.jsonnet", "local n = import 'netlib/main.libsonnet';\nlocal m = import 'net.libsonnet';\n"+
		"{ name: 'x', networks: [{ name: 'a', subnet: n.subnet }], groups: [{ name: 'g', image: 'busybox:1', replicas: 1, networks: [{ network: 'a' }] }] }\n")
	link := func(name, target string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(r.dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(r.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	link("vendor/netlib", "github.com/acme/netlib")
	link("lib/net.libsonnet", "../vendor/netlib/main.libsonnet")
	r.git("add", "-A")
	r.git("commit", "-q", "-m", "jb")
	same := func(want int) {
		t.Helper()
		dirOut, dirErr, dirCode := runCLI(t, "validate", r.dir)
		gitOut, gitErr, gitCode := runCLI(t, "validate", "--ref", "HEAD", r.dir)
		dirOut, dirErr = strings.ReplaceAll(dirOut, r.dir, "REPO"), strings.ReplaceAll(dirErr, r.dir, "REPO")
		gitOut, gitErr = strings.ReplaceAll(gitOut, r.dir+"@HEAD", "REPO"), strings.ReplaceAll(gitErr, r.dir+"@HEAD", "REPO")
		if dirCode != want || gitCode != want || dirOut != gitOut || dirErr != gitErr {
			t.Fatalf("validate . (exit %d):\n%s%s\nvalidate --ref HEAD (exit %d):\n%s%s", dirCode, dirOut, dirErr, gitCode, gitOut, gitErr)
		}
	}
	same(0)

	link("vendor/evil", "/etc")
	r.write("environments/y.jsonnet", "local e = import 'evil/hostname';\n{ name: 'y' + e }\n")
	r.git("add", "-A")
	r.git("commit", "-q", "-m", "a link out")
	same(1)
	if _, errOut, _ := runCLI(t, "validate", r.dir); !strings.Contains(errOut, "environments/y.jsonnet:1: RUNTIME ERROR: vendor/evil is a symbolic link to /etc, outside the repository") {
		t.Fatalf("a link out of the repository: %s", errOut)
	}
}

// TestOutputFormats: -o takes text, json or yaml where it exists (eval:
// json or yaml), and an unknown format is an error before anything runs.
func TestOutputFormats(t *testing.T) {
	r := newTestRepo(t)
	r.write("sites/a.jsonnet", "{ name: 'a', hosts: [{ name: 'h', docker: 'unix:///nonexistent.sock' }] }\n")
	for _, args := range [][]string{
		{"validate", r.dir}, {"eval", r.dir}, {"status", "--repo", r.dir}, {"volumes", "list", r.dir},
	} {
		_, errOut, code := runCLI(t, append(args, "-o", "xml")...)
		if code != 1 || !strings.Contains(errOut, `--output "xml": want`) {
			t.Errorf("%s -o xml: exit %d, %s", args[0], code, errOut)
		}
	}
	if out, errOut, code := runCLI(t, "validate", "-o", "yaml", r.dir); code != 0 || !strings.Contains(out, "valid: true\n") {
		t.Errorf("validate -o yaml: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, "eval", "-o", "yaml", r.dir); code != 0 || !strings.Contains(out, "sites:\n- hosts:\n") {
		t.Errorf("eval -o yaml: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, "eval", "-o", "text", r.dir); code != 1 || !strings.Contains(errOut, "want json or yaml") {
		t.Errorf("eval -o text: exit %d, %s", code, errOut)
	}
}
