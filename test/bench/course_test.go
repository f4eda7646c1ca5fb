// Package bench holds Rensei's benchmarks that span packages: a 1,000-member
// course over three sites, loaded, validated, placed and planned.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"runtime"
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

const sitesJsonnet = `
local r = import 'rensei.libsonnet';
[
  r.site(s.name, [r.host('h0', docker='unix:///run/' + s.name + '.sock', underlay=s.underlay, capacity={ cpus: 2000, memory: '4000Gi' })])
  for s in [{ name: 'campus', underlay: '198.18.0.1' }, { name: 'cloud', underlay: '198.18.0.2' }, { name: 'backup', underlay: '198.18.0.3' }]
]
`

// One container group per student: a workstation, a notebook and a
// database, 3,000 containers for 1,000 students, spread over three sites.
const courseJsonnet = `
local r = import 'rensei.libsonnet';
local roster = import 'roster.json';
local ids = r.members(roster);
local group(name, cmd) = {
  name: name,
  image: 'rensei/busybox:latest',
  command: cmd,
  members: ids,
  placement: { sites: ['campus', 'cloud', 'backup'], strategy: 'spread' },
  resources: { cpus: 0.5, memory: '256Mi' },
  networks: [{ network: 'lab' }],
  volumes: [{ name: 'home', path: '/home/student' }],
  files: [r.file('/etc/motd', 'Welcome to CS101\n')],
};
{
  name: 'cs101-2027-spring',
  owner: 'lecturer@example.edu',
  labels: { course: 'cs101', semester: '2027-spring' },
  networks: [{ name: 'lab', subnet: '198.19.0.0/16', hostPrefix: 19 }],
  groups: [group('ws', ['sleep', 'infinity']), group('nb', ['httpd', '-f']), group('db', ['sleep', 'infinity'])],
}
`

func courseRepo(b *testing.B) fstest.MapFS {
	var roster []map[string]string
	for i := 0; i < 1000; i++ {
		roster = append(roster, map[string]string{"id": fmt.Sprintf("s%05d", i), "name": fmt.Sprintf("Student %d", i)})
	}
	data, err := json.Marshal(roster)
	if err != nil {
		b.Fatal(err)
	}
	return fstest.MapFS{
		"sites/sites.jsonnet":        {Data: []byte(sitesJsonnet)},
		"environments/cs101.jsonnet": {Data: []byte(courseJsonnet)},
		"environments/roster.json":   {Data: data},
	}
}

func fakes() (map[string]*fake.Host, map[string]drivers.Host) {
	f := map[string]*fake.Host{}
	d := map[string]drivers.Host{}
	for _, s := range []string{"campus", "cloud", "backup"} {
		key := s + "/h0"
		f[key] = fake.New(key)
		d[key] = f[key].Drivers()
	}
	return f, d
}

var now = time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)

// desire is load + validate + place, as a pass does it.
func desire(b *testing.B, fsys fs.FS) *place.Desired {
	rev, err := engine.Load(context.Background(), engine.Source{FS: fsys, Commit: "c1"}, nil, schema.Options{}, "")
	if err != nil {
		b.Fatal(err)
	}
	want, err := rev.At(now)
	if err != nil {
		b.Fatal(err)
	}
	return want
}

// benchmarkCourse measures load + validate + place + observe (fake) + plan.
func benchmarkCourse(b *testing.B, converged bool) {
	fsys := courseRepo(b)
	_, hosts := fakes()
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
	b.ReportAllocs()
	b.ResetTimer()
	steps := 0
	for i := 0; i < b.N; i++ {
		want := desire(b, fsys)
		p := plan.Compute(want, engine.Observe(ctx, hosts))
		steps = p.Changes()
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N)/(1<<20), "MB-alloc/op")
	b.ReportMetric(float64(steps), "changes")
	if converged && steps != 0 {
		b.Fatalf("converged fake still has %d changes", steps)
	}
	if !converged && steps < 3000 {
		b.Fatalf("empty fake: only %d changes", steps)
	}
}

func BenchmarkCourse1000Empty(b *testing.B)     { benchmarkCourse(b, false) }
func BenchmarkCourse1000Converged(b *testing.B) { benchmarkCourse(b, true) }
