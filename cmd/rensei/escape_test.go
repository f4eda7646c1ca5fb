package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLinksOutOfTheRepositoryAreRefused: a symbolic link in a config
// repository pointing at a file of the machine is not followed, neither in
// a directory nor in a Git revision; the error names the importing file.
func TestLinksOutOfTheRepositoryAreRefused(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("top secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newTestRepo(t)
	r.write("sites/a.jsonnet", "{ name: 'a', hosts: [{ name: 'h', docker: 'unix:///nonexistent.sock' }] }\n")
	r.write("environments/leak.jsonnet", "{ name: 'leak', groups: [{ name: 'g', image: 'busybox:1', replicas: 1,\n  files: [{ path: '/etc/leak', content: importstr 'secret.txt' }] }] }\n")
	if err := os.MkdirAll(filepath.Join(r.dir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(r.dir, "lib", "secret.txt")); err != nil {
		t.Fatal(err)
	}
	r.commit("a link out", nil)
	for _, args := range [][]string{{"eval", r.dir}, {"eval", "--ref", "HEAD", r.dir}} {
		out, errOut, code := runCLI(t, args...)
		if code != 1 || strings.Contains(out+errOut, "top secret") || !strings.Contains(errOut, "environments/leak.jsonnet:2") {
			t.Errorf("rensei %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
		}
	}
}
