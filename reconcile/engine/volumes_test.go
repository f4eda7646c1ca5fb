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
	doomed, kept := engine.Prunable(rows, 24*time.Hour, now)
	var names []string
	for _, v := range doomed {
		names = append(names, v.Name)
	}
	if strings.Join(names, ",") != "gone,left" {
		t.Errorf("doomed %v, want gone,left", names)
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
