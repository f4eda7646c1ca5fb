package main

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"testing"
)

// TestSetMemoryLimit: --memory-limit sets the runtime's soft limit;
// without the flag GOMEMLIMIT, when set, is left in force; "off" is none;
// a limit that is not an amount of memory is refused.
func TestSetMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	t.Setenv("GOMEMLIMIT", "")

	if got, err := setMemoryLimit(defaultMemoryLimit, false); err != nil || got != "100Mi" || debug.SetMemoryLimit(-1) != 100<<20 {
		t.Errorf("default: %q, %v, limit %d", got, err, debug.SetMemoryLimit(-1))
	}
	if got, err := setMemoryLimit("64MiB", true); err != nil || got != "64MiB" || debug.SetMemoryLimit(-1) != 64<<20 {
		t.Errorf("--memory-limit 64MiB: %q, %v, limit %d", got, err, debug.SetMemoryLimit(-1))
	}
	if _, err := setMemoryLimit("off", true); err != nil || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("off: %v, limit %d", err, debug.SetMemoryLimit(-1))
	}
	if _, err := setMemoryLimit("100M", true); err == nil {
		t.Error("an ambiguous unit accepted")
	}

	t.Setenv("GOMEMLIMIT", "300MiB")
	debug.SetMemoryLimit(300 << 20) // as the runtime would have at start
	if got, err := setMemoryLimit(defaultMemoryLimit, false); err != nil || got != "GOMEMLIMIT=300MiB" || debug.SetMemoryLimit(-1) != 300<<20 {
		t.Errorf("GOMEMLIMIT set, no flag: %q, %v, limit %d", got, err, debug.SetMemoryLimit(-1))
	}
	if got, err := setMemoryLimit("80Mi", true); err != nil || got != "80Mi" || debug.SetMemoryLimit(-1) != 80<<20 {
		t.Errorf("GOMEMLIMIT set, and the flag: %q, %v, limit %d", got, err, debug.SetMemoryLimit(-1))
	}
}

// TestWithProfiling: --pprof adds Go's profiles under /debug/pprof/ and
// leaves every other path to the daemon's own handler.
func TestWithProfiling(t *testing.T) {
	own := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "daemon "+r.URL.Path) })
	srv := httptest.NewServer(withProfiling(own))
	defer srv.Close()
	get := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", path, resp.Status)
		}
		return string(body)
	}
	if got := get("/debug/pprof/"); !strings.Contains(got, "heap") || !strings.Contains(got, "goroutine") {
		t.Errorf("/debug/pprof/ lists no profiles: %.200s", got)
	}
	if got := get("/debug/pprof/heap?debug=1"); !strings.Contains(got, "heap profile") {
		t.Errorf("heap profile: %.200s", got)
	}
	for _, path := range []string{"/", "/metrics", "/api/v1/status"} {
		if got := get(path); got != "daemon "+path {
			t.Errorf("%s: %q, want the daemon's own handler", path, got)
		}
	}
}
