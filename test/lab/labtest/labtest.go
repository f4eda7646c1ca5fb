// Package labtest gives a test a fresh emulated lab (package lab) and
// tears it down when the test ends. Tests only: it imports testing, which
// package lab (linked into the rensei binary) must not.
package labtest

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/test/lab"
)

// ForTest gives the test a fresh lab of the given number of sites and tears
// it down when the test ends, passed or failed. It removes any lab already
// there first, and holds a lock so that tests in other packages wait for
// their turn. Without root, dockerd, nsenter or the host's Docker engine the
// test is skipped, or fails when CI=true (a skipped end-to-end test hides
// the bugs it exists for).
func ForTest(t testing.TB, sites int) *lab.Status {
	t.Helper()
	if why := lab.Missing(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: a missing prerequisite is a failure)", why)
		}
		t.Skipf("%s", why)
	}
	opts := lab.Options{Sites: sites, Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, release, err := lab.Fresh(ctx, opts)
	t.Cleanup(func() {
		// The test's own context is already cancelled by now.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := release(ctx); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// testWriter sends the lab's log lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
