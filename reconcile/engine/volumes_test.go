package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/engine"
)

// TestPrunable: the only data-deleting policy deletes old volumes nothing
// mounts, and says why it keeps every other one.
func TestPrunable(t *testing.T) {
	now := time.Date(2027, 9, 1, 0, 0, 0, 0, time.UTC)
	old := now.Add(-48 * time.Hour)
	rows := []engine.VolumeRow{
		{Name: "gone", Created: old, EnvState: "ended", MountsKnown: true},
		{Name: "left", Created: old, EnvState: "active", MountsKnown: true},
		{Name: "young", Created: now.Add(-time.Hour), EnvState: "ended", MountsKnown: true},
		{Name: "desired", Created: old, EnvState: "active", DesiredBy: []string{"c"}, MountsKnown: true},
		{Name: "mounted", Created: old, EnvState: "active", MountedBy: []string{"c"}, MountsKnown: true},
		{Name: "unknown", Created: old, EnvState: "ended"},
		{Name: "undated", EnvState: "ended", MountsKnown: true},
	}
	names := func(vs []engine.VolumeRow) string {
		var out []string
		for _, v := range vs {
			out = append(out, v.Name)
		}
		return strings.Join(out, ",")
	}
	// Without --force an active environment's data is kept, whatever mounts it.
	doomed, kept := engine.Prunable(rows, 24*time.Hour, now, false)
	if got := names(doomed); got != "gone" {
		t.Errorf("doomed %v, want gone", got)
	}
	for _, k := range kept {
		if k.Name == "left" && !strings.Contains(k.Why, "environment is active: its data is kept until the environment ends (--force") {
			t.Errorf("kept %s: %s", k.Name, k.Why)
		}
	}
	doomed, kept = engine.Prunable(rows, 24*time.Hour, now, true)
	if got := names(doomed); got != "gone,left" {
		t.Errorf("with force: doomed %v, want gone,left", got)
	}
	if len(kept) != 5 {
		t.Errorf("kept %d, want 5: %+v", len(kept), kept)
	}
	for _, k := range kept {
		if k.Name == "mounted" && !strings.Contains(k.Why, "environment is active and mounted by c") {
			t.Errorf("kept %s: %s", k.Name, k.Why)
		}
	}
}
