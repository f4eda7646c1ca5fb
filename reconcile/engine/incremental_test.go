package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rensei-dev/rensei/test/renseibin"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/schema"
)

// incRepo is a small campus: two sites, a shared helper in lib/, n course
// files importing it, one of them through a helper under environments/.
func incRepo(n int) fstest.MapFS {
	fsys := fstest.MapFS{
		"sites/campus.jsonnet": {Data: []byte(`local r = import 'rensei.libsonnet';
[r.site('a', [r.host('h0', docker='unix:///a.sock', underlay='198.18.0.1')]), r.site('b', [r.host('h0', docker='unix:///b.sock', underlay='198.18.0.2')])]
`)},
		"lib/course.libsonnet": {Data: []byte(`{
  course(name, n, net):: {
    name: name,
    networks: [{ name: 'lab', subnet: '198.19.' + net + '.0/24' }],
    groups: [{ name: 'ws', image: 'rensei/busybox:latest', command: ['sleep', 'infinity'], members: ['s' + i for i in std.range(100, 99 + n)], networks: [{ network: 'lab' }] }],
  },
}
`)},
		"environments/extra.libsonnet": {Data: []byte("{ motd: 'hello' }\n")},
	}
	for i := range n {
		fsys[fmt.Sprintf("environments/c%02d.jsonnet", i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf("(import 'course.libsonnet').course('c%02d', %d, %d)\n", i, 3+i%4, i))}
	}
	fsys["environments/c00.jsonnet"] = &fstest.MapFile{Data: []byte("(import 'course.libsonnet').course('c00', 3, 0) + { labels: { motd: (import 'extra.libsonnet').motd } }\n")}
	return fsys
}

// loaded is a load's outcome as comparable text: the topology as JSON, or
// the problems.
func loaded(t *testing.T, topo *schema.Topology, err error) string {
	t.Helper()
	var ps schema.Problems
	switch {
	case errors.As(err, &ps):
		return "problems:\n" + ps.Error()
	case err != nil:
		t.Fatalf("load: %v", err)
	}
	b, err := json.MarshalIndent(struct {
		*schema.Topology
		Sources []schema.Source
	}{topo, sources(topo)}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sources(topo *schema.Topology) []schema.Source {
	var out []schema.Source
	for _, s := range topo.Sites {
		out = append(out, s.Source)
	}
	for _, e := range topo.Environments {
		out = append(out, e.Source)
	}
	return out
}

// TestIncrementalSameAsFull edits a repository at random (a course, the
// shared helper, a helper under environments/, files added, removed,
// broken and mended, a top-level argument) and loads every revision both
// ways: incrementally, the result is the full load's, and only the files
// that changed (or import what changed) are evaluated.
func TestIncrementalSameAsFull(t *testing.T) {
	ctx := context.Background()
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, seed*31))
			fsys := incRepo(8)
			inc := engine.Incremental{Cache: engine.NewEvalCache(0)}
			opts := schema.Options{}
			if _, err := inc.Evaluate(ctx, engine.Source{FS: fsys}, opts); err != nil {
				t.Fatal(err)
			}
			for step := 0; step < 12; step++ {
				before := inc.Cache.Stats()
				want := 0 // files expected to be evaluated, -1: unknown
				switch r.IntN(8) {
				case 0: // one course changes
					f := fmt.Sprintf("environments/c%02d.jsonnet", 1+r.IntN(7))
					if _, ok := fsys[f]; ok {
						fsys[f] = &fstest.MapFile{Data: []byte(fmt.Sprintf("(import 'course.libsonnet').course('%s', 4, %d) + { owner: 'x%d' }\n", f[13:16], 50+step, step))}
						want = 1
					}
				case 1: // the shared helper: every course
					fsys["lib/course.libsonnet"] = &fstest.MapFile{Data: []byte(strings.Replace(string(incRepo(0)["lib/course.libsonnet"].Data), "name: name,", fmt.Sprintf("name: name, owner: 'o%d',", step), 1))}
					want = -1
				case 2: // a helper only c00 imports
					fsys["environments/extra.libsonnet"] = &fstest.MapFile{Data: []byte(fmt.Sprintf("{ motd: 'hello %d' }\n", step))}
					want = 1
				case 3: // a course added
					fsys[fmt.Sprintf("environments/n%02d.jsonnet", step)] = &fstest.MapFile{Data: []byte(fmt.Sprintf("(import 'course.libsonnet').course('n%02d', 2, %d)\n", step, 100+step))}
					want = 1
				case 4: // a course removed
					delete(fsys, fmt.Sprintf("environments/c%02d.jsonnet", 1+r.IntN(7)))
				case 5: // a course broken (evaluated, and again until mended)
					fsys["environments/c07.jsonnet"] = &fstest.MapFile{Data: []byte("(import 'course.libsonnet').course('c07', 3, 7) + { groups+: [error 'broken on purpose'] }\n")}
					want = -1
				case 6: // a top-level argument: everything
					opts.TLAStr = map[string]string{"term": fmt.Sprint(step)}
					want = -1
				case 7: // nothing changes
				}
				topo, err := inc.Evaluate(ctx, engine.Source{FS: fsys}, opts)
				got := loaded(t, topo, err)
				topo, err = engine.InProcess{}.Evaluate(ctx, engine.Source{FS: fsys}, opts)
				if full := loaded(t, topo, err); got != full {
					t.Fatalf("step %d: incremental load differs from the full one:\n%s\nfull:\n%s", step, got, full)
				}
				after := inc.Cache.Stats()
				broken := 0
				if f := fsys["environments/c07.jsonnet"]; f != nil && strings.Contains(string(f.Data), "broken") {
					broken = 1 // failures are not cached
				}
				if want >= 0 && after.Misses-before.Misses != int64(want+broken) && !(want == 1 && broken == 1 && after.Misses-before.Misses == 1) {
					t.Errorf("step %d: %d files evaluated, want %d", step, after.Misses-before.Misses, want+broken)
				}
			}
		})
	}
}

// TestMain removes the rensei binary the tests built, if any.
func TestMain(m *testing.M) {
	code := m.Run()
	renseibin.Remove()
	os.Exit(code)
}

// renseiBinary is the rensei command, for the evaluating child; -short
// leaves out the tests that need it (building it takes a while).
func renseiBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the rensei binary")
	}
	return renseibin.Path(t)
}

func writeRepo(t *testing.T, dir string, fsys fstest.MapFS) {
	t.Helper()
	for name, f := range fsys {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIncrementalChild: with a child process, only the changed files go
// to it, the result is the full evaluation's, and a runaway file is
// stopped by the child's bound, never evaluated in this process.
func TestIncrementalChild(t *testing.T) {
	bin := renseiBinary(t)
	ctx := context.Background()
	dir := t.TempDir()
	fsys := incRepo(6)
	writeRepo(t, dir, fsys)
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	src := engine.Source{Name: dir, FS: root.FS(), Dir: dir}
	inc := engine.NewIncremental(engine.Child{Exe: bin})
	full := engine.Child{Exe: bin}
	check := func(what string, misses int64) {
		t.Helper()
		before := inc.Cache.Stats()
		topo, err := inc.Evaluate(ctx, src, schema.Options{})
		got := loaded(t, topo, err)
		topo, err = full.Evaluate(ctx, src, schema.Options{})
		if want := loaded(t, topo, err); got != want {
			t.Fatalf("%s: incremental differs from the child's full evaluation:\n%s\nfull:\n%s", what, got, want)
		}
		if n := inc.Cache.Stats().Misses - before.Misses; n != misses {
			t.Errorf("%s: %d files evaluated, want %d", what, n, misses)
		}
	}
	check("first revision", 7)
	check("unchanged", 0)
	writeRepo(t, dir, fstest.MapFS{"environments/c03.jsonnet": {Data: []byte("(import 'course.libsonnet').course('c03', 9, 3)\n")}})
	check("one course changed", 1)

	// A runaway file: the child's time bound stops it.
	writeRepo(t, dir, fstest.MapFS{"environments/c04.jsonnet": {Data: []byte("local f(x) = f(x + 1) + 1; f(0)\n")}})
	start := time.Now()
	_, err = inc.Evaluate(ctx, src, schema.Options{Timeout: 2 * time.Second})
	var ps schema.Problems
	if !errors.As(err, &ps) || !strings.Contains(ps.Error(), "c04.jsonnet") {
		t.Fatalf("runaway file: %v, want a problem naming it", err)
	}
	if took := time.Since(start); took > time.Minute {
		t.Errorf("the runaway file took %s to stop", took)
	}
}
