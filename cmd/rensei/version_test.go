package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolveVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const sha = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name   string
		linked string
		bi     *debug.BuildInfo
		want   string
	}{
		{"the release's ldflags win", "v1.2.3", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.2"}, Settings: vcs(sha, "false")}, "v1.2.3"},
		{"go install …@v1.2.3", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"go build in a work tree (a pseudo-version, Go 1.24+)", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261128081500-0123456789ab+dirty"}, Settings: vcs(sha, "true")}, "v0.0.0-20261128081500-0123456789ab+dirty"},
		{"devel, clean", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(sha, "false")}, "devel-0123456789ab"},
		{"devel, modified", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(sha, "true")}, "devel-0123456789ab-dirty"},
		{"devel, no VCS stamp (-buildvcs=false)", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{"no build information", "", nil, "devel"},
	} {
		if got := resolveVersion(tc.linked, tc.bi); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestVersionCommandAndFlag: "rensei version" and "rensei --version" print
// the same line: version, platform, Go release.
func TestVersionCommandAndFlag(t *testing.T) {
	cmdOut, _, code1 := runCLI(t, "version")
	flagOut, _, code2 := runCLI(t, "--version")
	want := "rensei " + currentVersion() + " " + runtime.GOOS + "/" + runtime.GOARCH + " " + runtime.Version() + "\n"
	if code1 != 0 || code2 != 0 || cmdOut != want || flagOut != want {
		t.Errorf("version: %q (exit %d); --version: %q (exit %d); want %q", cmdOut, code1, flagOut, code2, want)
	}
}

// TestVersionOfABuiltBinary builds the binary twice: as the release does
// (-X main.version) and as a developer does in a Git work tree with VCS
// stamping on, and checks what each prints.
func TestVersionOfABuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	build := func(name string, args ...string) string {
		t.Helper()
		bin := filepath.Join(dir, name)
		cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, args...), ".")...)
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %v: %v\n%s", args, err, out)
		}
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s --version: %v\n%s", name, err, out)
		}
		return string(out)
	}
	if got := build("release", "-ldflags", "-X main.version=v9.8.7"); !strings.HasPrefix(got, "rensei v9.8.7 "+runtime.GOOS+"/"+runtime.GOARCH) {
		t.Errorf("release build: %q", got)
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a Git work tree (%v): no VCS stamp to check", err)
	}
	got := build("devel", "-buildvcs=true")
	// Go 1.24+ stamps a pseudo-version naming the commit; older Go, or a
	// work tree without tags, gives devel-<commit>.
	if short := strings.TrimSpace(string(head))[:12]; !strings.Contains(got, short) {
		t.Errorf("work tree build: %q does not name commit %s", got, short)
	}
}

// TestLogLevel: an unknown --log-level is an error before any command
// runs (it used to fall back to warn silently); the known ones pass.
func TestLogLevel(t *testing.T) {
	_, errOut, code := runCLI(t, "--log-level", "verbose", "version")
	if code != 1 || !strings.Contains(errOut, `--log-level "verbose": want debug, info, warn or error`) {
		t.Errorf("--log-level verbose: exit %d, stderr %q", code, errOut)
	}
	for _, l := range []string{"debug", "info", "warn", "error", "INFO"} {
		if _, errOut, code := runCLI(t, "--log-level", l, "version"); code != 0 {
			t.Errorf("--log-level %s: exit %d, stderr %q", l, code, errOut)
		}
	}
}
