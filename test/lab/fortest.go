package lab

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// lockPath serialises labs between test processes (`go test ./...` runs
// packages in parallel, and they would all use the same names). It lives
// outside DefaultStateDir so that Down can remove that whole directory.
const lockPath = "/run/rensei-lab.lock"

// ForTest gives the test a fresh lab of the given number of sites and tears
// it down when the test ends, passed or failed. It removes any lab already
// there first, and holds a lock so that tests in other packages wait for
// their turn. Without root, dockerd, nsenter or the host's Docker engine the
// test is skipped, or fails when CI=true (a skipped end-to-end test hides
// the bugs it exists for).
func ForTest(t testing.TB, sites int) *Status {
	t.Helper()
	if why := missing(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: a missing prerequisite is a failure)", why)
		}
		t.Skipf("%s", why)
	}
	unlock, err := lock()
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	opts := Options{Sites: sites, Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
	t.Cleanup(func() {
		defer unlock()
		// The test's own context is already cancelled by now.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := Down(ctx, opts); err != nil {
			t.Errorf("lab: down: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := Down(ctx, opts); err != nil {
		t.Fatalf("lab: clearing an old lab: %v", err)
	}
	st, err := Up(ctx, opts)
	if err != nil {
		t.Fatalf("lab: up: %v", err)
	}
	return st
}

// missing names the first prerequisite of a lab this machine lacks.
func missing() string {
	if err := prerequisites(); err != nil {
		return err.Error()
	}
	cli, err := client.NewClientWithOpts(client.WithHost(hostDocker), client.WithAPIVersionNegotiation())
	if err != nil {
		return "lab: host docker engine: " + err.Error()
	}
	defer cli.Close()
	if err := ping(context.Background(), cli); err != nil {
		return "lab: host docker engine: " + err.Error()
	}
	return ""
}

// lock takes the machine-wide lab lock, waiting for other test processes.
func lock() (func(), error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	return func() { f.Close() }, nil
}

// TryLock takes the machine-wide lab lock that test runs hold while they use
// the lab, without waiting: a command that would change the lab (up, down)
// fails rather than pull it from under a running test. The returned func
// releases the lock.
func TryLock() (func(), error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lab lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, fmt.Errorf("lab is in use by another process (a test run holds %s); try again when it ends", lockPath)
		}
		return nil, fmt.Errorf("lab lock %s: %w", lockPath, err)
	}
	return func() { f.Close() }, nil
}

// testWriter sends the lab's log lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
