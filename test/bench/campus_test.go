package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/fake"
	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/schema"
)

// A campus: 10 sites of one host each, and courses of students with three
// containers each (workstation, notebook, database) spread over every site,
// one file per course importing a shared helper.
const campusSites = `
local r = import 'rensei.libsonnet';
[
  r.site('s' + i, [r.host('h0', docker='unix:///run/s' + i + '.sock', underlay='198.18.0.' + (i + 1), capacity={ cpus: 40000, memory: '80000Gi' })])
  for i in std.range(0, 9)
]
`

const campusCourseLib = `
{
  course(name, n, subnet):: {
    // + rather than %: go-jsonnet's std.format is ~100x slower.
    local ids = ['s' + i for i in std.range(10000, 9999 + n)],
    local group(g, cmd) = {
      name: g,
      image: 'rensei/busybox:latest',
      command: cmd,
      members: ids,
      placement: { strategy: 'spread' },
      resources: { cpus: 0.5, memory: '256Mi' },
      networks: [{ network: 'lab' }],
      volumes: [{ name: 'home', path: '/home/student' }],
    },
    name: name,
    owner: 'lecturer@example.edu',
    networks: [{ name: 'lab', subnet: subnet, hostPrefix: 20 }],
    groups: [group('ws', ['sleep', 'infinity']), group('nb', ['httpd', '-f']), group('db', ['sleep', 'infinity'])],
  },
}
`

// campusRepo is the campus with courses courses of per students each.
func campusRepo(courses, per int) fstest.MapFS {
	fsys := fstest.MapFS{
		"sites/campus.jsonnet":   {Data: []byte(campusSites)},
		"lib/course.libsonnet":   {Data: []byte(campusCourseLib)},
		"environments/README.md": {Data: []byte("one file per course\n")},
	}
	for i := range courses {
		fsys[fmt.Sprintf("environments/c%03d.jsonnet", i)] = &fstest.MapFile{Data: []byte(
			fmt.Sprintf("(import 'course.libsonnet').course('c%03d', %d, '10.%d.0.0/16')\n", i, per, i))}
	}
	return fsys
}

func campusFakes() map[string]drivers.Host {
	d := map[string]drivers.Host{}
	for i := range 10 {
		key := fmt.Sprintf("s%d/h0", i)
		d[key] = fake.New(key).Drivers()
	}
	return d
}

// benchmarkCampus measures load + validate + place + observe (fake) + plan
// of 10,000 students (30,000 containers) over 10 sites, each part apart,
// in time and in bytes allocated (the fakes' observation is not
// Rensei's: it copies every object the way a driver's decoding would).
func benchmarkCampus(b *testing.B, converged bool) {
	fsys := campusRepo(100, 100)
	hosts := campusFakes()
	ctx := context.Background()
	if converged {
		want := desire(b, fsys)
		p := plan.Compute(want, engine.Observe(ctx, hosts))
		if _, err := apply.Apply(ctx, p, hosts, apply.Options{Parallel: 16}); err != nil {
			b.Fatal(err)
		}
	}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	var load, placing, observing, planning time.Duration
	var loadMB, placeMB, observeMB, planMB float64
	alloc := func() float64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.TotalAlloc) / (1 << 20)
	}
	steps := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a0, t0 := alloc(), time.Now()
		rev, err := engine.Load(ctx, engine.Source{FS: fsys, Commit: "c1"}, nil, schema.Options{}, "")
		if err != nil {
			b.Fatal(err)
		}
		t1, a1 := time.Now(), alloc()
		want, err := rev.At(now)
		if err != nil {
			b.Fatal(err)
		}
		t2, a2 := time.Now(), alloc()
		obs := engine.Observe(ctx, hosts)
		t3, a3 := time.Now(), alloc()
		p := plan.Compute(want, obs)
		t4, a4 := time.Now(), alloc()
		load, placing, observing, planning = load+t1.Sub(t0), placing+t2.Sub(t1), observing+t3.Sub(t2), planning+t4.Sub(t3)
		loadMB, placeMB, observeMB, planMB = loadMB+a1-a0, placeMB+a2-a1, observeMB+a3-a2, planMB+a4-a3
		steps = p.Changes()
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	n := float64(b.N)
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/n/(1<<20), "MB-alloc/op")
	b.ReportMetric(load.Seconds()*1000/n, "load-ms")
	b.ReportMetric(placing.Seconds()*1000/n, "place-ms")
	b.ReportMetric((observing+planning).Seconds()*1000/n, "observe+plan-ms")
	b.ReportMetric(observing.Seconds()*1000/n, "observe-ms")
	b.ReportMetric(planning.Seconds()*1000/n, "plan-ms")
	b.ReportMetric(loadMB/n, "load-MB")
	b.ReportMetric(placeMB/n, "place-MB")
	b.ReportMetric(observeMB/n, "observe-MB")
	b.ReportMetric(planMB/n, "plan-MB")
	b.ReportMetric(float64(steps), "changes")
	if converged && steps != 0 {
		b.Fatalf("converged fake still has %d changes", steps)
	}
	if !converged && steps < 30000 {
		b.Fatalf("empty fake: only %d changes", steps)
	}
}

func BenchmarkCampus30000Empty(b *testing.B)     { benchmarkCampus(b, false) }
func BenchmarkCampus30000Converged(b *testing.B) { benchmarkCampus(b, true) }
