// Package e2e_test runs Rensei end to end on the emulated lab: three sites,
// each a network namespace with its own dockerd, joined by a WAN bridge.
// It drives the built rensei binary as a user would and checks the result
// from outside with the docker, ip and bridge command-line tools.
//
// The lab tests need root and dockerd; without them they are skipped, or
// fail when CI=true (lab.ForTest decides). One lab serves the whole package:
// TestFederation brings it up once and runs its scenarios as sequential
// subtests, each leaving the lab converged for the next.
package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// renseiBin is the binary TestMain builds from this work tree.
var renseiBin string

// repoRoot is the module's root directory.
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err == nil {
		_, err = os.Stat(filepath.Join(root, "go.mod"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: module root not found:", err)
		return 1
	}
	repoRoot = root
	dir, err := os.MkdirTemp("", "rensei-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	renseiBin = filepath.Join(dir, "rensei")
	build := exec.Command("go", "build", "-o", renseiBin, "./cmd/rensei")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/rensei: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// cliTimeout bounds one rensei command. A converge of this lab takes a few
// seconds; a command still running after this long is hung, and is sent
// SIGQUIT so that its goroutine dump lands in the test log.
const cliTimeout = 3 * time.Minute

// result is one finished rensei command.
type result struct {
	args   []string
	stdout string
	stderr string
	code   int
	took   time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("rensei %s → exit %d in %s\n[stdout]\n%s[stderr]\n%s",
		strings.Join(r.args, " "), r.code, r.took.Round(time.Millisecond), clip(r.stdout), clip(r.stderr))
}

// clip keeps the test log readable: eval and JSON plans run to hundreds
// of lines.
func clip(s string) string {
	const max = 40
	lines := strings.SplitAfter(s, "\n")
	if len(lines) <= max {
		return s
	}
	return strings.Join(lines[:max], "") + fmt.Sprintf("… (%d more lines)\n", len(lines)-max)
}

// rensei runs the built binary and returns what it did, whatever its exit
// code. It fails the test only when the command cannot run or hangs.
func rensei(t testing.TB, args ...string) result {
	t.Helper()
	r := runRensei(t, args...)
	t.Logf("%s", r)
	return r
}

// runRensei is rensei without logging the output (eval prints hundreds of lines).
func runRensei(t testing.TB, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, renseiBin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("hung, killed after %s:\n%s", cliTimeout, r)
	}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("rensei %s: %v", strings.Join(args, " "), err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// mustRensei runs rensei and fails the test unless it exits with want.
func mustRensei(t testing.TB, want int, args ...string) result {
	t.Helper()
	r := rensei(t, args...)
	if r.code != want {
		t.Fatalf("rensei %s: exit %d, want %d", strings.Join(args, " "), r.code, want)
	}
	return r
}

// command runs a tool (ip, bridge, docker) and returns its combined output.
func command(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// must runs a tool and fails the test when it fails.
func must(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := command(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// copyDir copies the regular files of src into dst (a config repository:
// no symlinks, no special files).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}
