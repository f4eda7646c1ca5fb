package main

import (
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
