package main

import (
	"math"
	"runtime/debug"
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
