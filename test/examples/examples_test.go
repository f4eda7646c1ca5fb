package examples_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/place"
)

// TestExamplesPlace loads, validates and places every example at now and
// at a time inside each environment's active window, and checks that each
// environment is active there with containers placed.
func TestExamplesPlace(t *testing.T) {
	names := exampleNames(t)
	for _, want := range []string{"quickstart", "lab-course", "data-analysis", "hpc", "backup-site", "lb-service", "bigdata-workflow"} {
		if !slices.Contains(names, want) {
			t.Errorf("example %s is missing (found %v)", want, names)
		}
	}
	withReadme := []string{"lab-course", "data-analysis", "hpc", "backup-site", "lb-service", "bigdata-workflow"}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			fsys := os.DirFS(filepath.Join(examplesDir(t), name))
			now := time.Now().UTC()
			topo, base := desire(t, fsys, now)
			if len(topo.Environments) == 0 {
				t.Fatal("no environments")
			}
			if _, err := os.Stat(filepath.Join(examplesDir(t), name, "README.md")); err != nil && slices.Contains(withReadme, name) {
				t.Errorf("no README.md: %v", err)
			}
			for _, st := range base.Environments {
				at := now
				switch {
				case !st.From.IsZero():
					at = st.From.Add(time.Hour)
				case !st.Until.IsZero():
					at = st.Until.Add(-time.Hour)
				}
				_, want := desire(t, fsys, at)
				got, ok := want.Env(st.Name)
				if !ok || got.State != place.Active {
					t.Errorf("environment %s at %s: state %q, want active", st.Name, at.Format(time.RFC3339), got.State)
					continue
				}
				if len(containersOf(want, st.Name)) == 0 {
					t.Errorf("environment %s at %s: no containers placed", st.Name, at.Format(time.RFC3339))
				}
			}
		})
	}
}
