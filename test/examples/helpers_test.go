// Package examples_test checks every config repository under examples/:
// it loads, validates and places at times inside its active windows, and
// the lab course behaves as its README promises (rosters, windows, the
// front door, a roster change touching only that student). No host is
// contacted: plans run against drivers/fake.
package examples_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/fake"
	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/schema"
)

// examplesDir is the module's examples/ directory.
func examplesDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "examples")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// exampleNames lists the config repositories under examples/ (directories
// with a sites/ directory), sorted.
func exampleNames(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(examplesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if st, err := os.Stat(filepath.Join(examplesDir(t), e.Name(), "sites")); err == nil && st.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// exampleFS copies an example into memory, so a test can change files.
func exampleFS(t testing.TB, name string) fstest.MapFS {
	t.Helper()
	root := filepath.Join(examplesDir(t), name)
	out := fstest.MapFS{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = &fstest.MapFile{Data: data}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// edit replaces old with new in file, failing when old is absent.
func edit(t *testing.T, fsys fstest.MapFS, file, old, new string) {
	t.Helper()
	f := fsys[file]
	if f == nil || !strings.Contains(string(f.Data), old) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	fsys[file] = &fstest.MapFile{Data: []byte(strings.Replace(string(f.Data), old, new, 1))}
}

// desire loads and places fsys at now.
func desire(t *testing.T, fsys fs.FS, now time.Time) (*schema.Topology, *place.Desired) {
	t.Helper()
	rev, err := engine.Load(context.Background(), engine.Source{FS: fsys, Commit: "test"}, nil, schema.Options{}, "")
	if err != nil {
		t.Fatalf("at %s: %v", now.Format(time.DateOnly), err)
	}
	want, err := rev.At(now)
	if err != nil {
		t.Fatalf("at %s: %v", now.Format(time.DateOnly), err)
	}
	return rev.Topology, want
}

// desireErr loads and places fsys at now and returns the error, failing when there is none.
func desireErr(t *testing.T, fsys fs.FS, now time.Time) string {
	t.Helper()
	rev, err := engine.Load(context.Background(), engine.Source{FS: fsys}, nil, schema.Options{}, "")
	if err == nil {
		_, err = rev.At(now)
	}
	if err == nil {
		t.Fatal("loaded without error")
	}
	var ps schema.Problems
	if !errors.As(err, &ps) {
		t.Errorf("error is not schema.Problems: %T %v", err, err)
	}
	return err.Error()
}

// container finds a desired container by name.
func container(want *place.Desired, name string) (*drivers.ContainerSpec, string) {
	for _, h := range want.Hosts {
		for i := range h.Containers {
			if h.Containers[i].Name == name {
				return &h.Containers[i], h.Key
			}
		}
	}
	return nil, ""
}

// containersOf lists the desired containers of an environment.
func containersOf(want *place.Desired, env string) []string {
	var out []string
	for _, h := range want.Hosts {
		for _, c := range h.Containers {
			if c.Labels[drivers.LabelEnv] == env {
				out = append(out, c.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// world is a set of fake hosts, one per host of a topology.
type world struct {
	fakes   map[string]*fake.Host
	drivers map[string]drivers.Host
}

func newWorld(want *place.Desired) *world {
	w := &world{fakes: map[string]*fake.Host{}, drivers: map[string]drivers.Host{}}
	for _, h := range want.Hosts {
		w.fakes[h.Key] = fake.New(h.Key)
		w.drivers[h.Key] = w.fakes[h.Key].Drivers()
	}
	return w
}

// desire is desire placed with the pins the world's hosts give: what
// engine.Pass does against real hosts (students keep hosts and addresses).
func (w *world) desire(t *testing.T, fsys fs.FS, now time.Time) *place.Desired {
	t.Helper()
	rev, err := engine.Load(context.Background(), engine.Source{FS: fsys, Commit: "test"}, nil, schema.Options{}, "")
	if err != nil {
		t.Fatal(err)
	}
	want, err := rev.AtPinned(now, engine.PinsOf(engine.Observe(context.Background(), w.drivers)))
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func (w *world) plan(want *place.Desired) plan.Plan {
	return plan.Compute(want, engine.Observe(context.Background(), w.drivers))
}

// converge applies want and checks that a second plan is empty.
func (w *world) converge(t *testing.T, want *place.Desired) {
	t.Helper()
	p := w.plan(want)
	if _, err := apply.Apply(context.Background(), p, w.drivers, apply.Options{Parallel: 4}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if again := w.plan(want); !again.Empty() {
		t.Fatalf("not converged:\n%s", render(again))
	}
}

// render lists a plan's steps one a line (skips included), for messages.
func render(p plan.Plan) string {
	var b strings.Builder
	for _, s := range p.Steps {
		b.WriteString(s.String() + "\n")
	}
	return b.String()
}

// stepKeys are a plan's steps as "action kind name" (host left out where
// placement decides it), sorted.
func stepKeys(p plan.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, string(s.Action)+" "+string(s.Kind)+" "+s.Name)
	}
	slices.Sort(out)
	return out
}
