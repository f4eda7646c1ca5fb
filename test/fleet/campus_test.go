package fleet_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/test/renseibin"

	"github.com/rensei-dev/rensei/reconcile/daemon"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/test/fakeengine"
	"github.com/rensei-dev/rensei/test/gittest"
)

// The campus: 10 sites of one simulated host each, 100 courses of 100
// students with three containers each (30,000 containers), one file per
// course importing a shared helper, every course spread over every site.
const (
	campusSites    = 10
	campusCourses  = 100
	campusStudents = 100
)

const campusCourseLib = `{
  course(name, ids, subnet):: {
    local group(g, cmd) = {
      name: g,
      image: 'rensei/busybox:latest',
      command: cmd,
      members: ids,
      placement: { strategy: 'spread' },
      resources: { cpus: 0.1, memory: '64Mi' },
      networks: [{ network: 'lab' }],
    },
    name: name,
    owner: 'lecturer@example.edu',
    networks: [{ name: 'lab', subnet: subnet, hostPrefix: 20 }],
    groups: [group('ws', ['sleep', 'infinity']), group('nb', ['httpd', '-f']), group('db', ['sleep', 'infinity'])],
  },
}
`

// campusCourse is course i with students s10000… (+ extra ones). With
// format the ids are made with std.format ('%' in Jsonnet), which
// go-jsonnet runs about a hundred times slower than '+': a repository
// whose evaluation is expensive.
func campusCourse(i, students int, format bool) string {
	ids := "'s' + i"
	if format {
		ids = "'s%05d' % i"
	}
	return fmt.Sprintf("(import 'course.libsonnet').course('c%03d', [%s for i in std.range(10000, %d)], '10.%d.0.0/16')\n", i, ids, 10000+students-1, i)
}

func campusFiles(f *fleet, format bool) map[string]string {
	var sites []string
	for i, e := range f.engines {
		sites = append(sites, fmt.Sprintf("  { name: 's%d', hosts: [{ name: 'h', docker: '%s', underlay: '198.18.0.%d', capacity: { cpus: 100000, memory: '100000Gi' } }] }", i, e.Host(), i+1))
	}
	files := map[string]string{
		"sites/campus.jsonnet":  "[\n" + strings.Join(sites, ",\n") + "\n]\n",
		"lib/course.libsonnet":  campusCourseLib,
		"policy/deploy.jsonnet": fmt.Sprintf("{ deployment: '%s' }\n", fleetScope),
	}
	for i := range campusCourses {
		files[fmt.Sprintf("environments/c%03d.jsonnet", i)] = campusCourse(i, campusStudents, format)
	}
	return files
}

// TestMain removes the rensei binary the benchmarks built, if any.
func TestMain(m *testing.M) {
	code := m.Run()
	renseibin.Remove()
	os.Exit(code)
}

// renseiExe is the rensei command (the daemon, the evaluating child).
func renseiExe(tb testing.TB) string { return renseibin.Path(tb) }

// BenchmarkCampusPush: a daemon enforcing a 10,000-student campus (30,000
// containers on 10 simulated hosts) gets a push that adds one student to
// one course; the time from the pushed ref to the student's containers
// made and every host's report on the status branch converged at the
// pushed commit (the daemon's passes until then). The evaluation runs in a child
// process as `rensei daemon`'s does: the whole revision (full), or only
// the changed file (incremental, engine.Incremental); for a repository
// whose Jsonnet is cheap (ids made with '+') and one where it is not
// (std.format).
func BenchmarkCampusPush(b *testing.B) {
	exe := renseiExe(b)
	f := newFleet(b, campusSites, fakeengine.Options{})
	for _, run := range []struct {
		name   string
		format bool
		mode   string
	}{{"plus/full", false, "full"}, {"plus/incremental", false, "incremental"}, {"format/full", true, "full"}, {"format/incremental", true, "incremental"}} {
		mode, format := run.mode, run.format
		repo := gittest.New(b)
		repo.Push("campus", campusFiles(f, format))
		b.Run(run.name, func(b *testing.B) {
			remote, err := gitrepo.OpenRemote(repo.Bare(), b.TempDir(), gitrepo.Credentials{})
			if err != nil {
				b.Fatal(err)
			}
			var ev engine.Evaluator = engine.Child{Exe: exe}
			var inc engine.Incremental
			if mode == "incremental" {
				inc = engine.NewIncremental(engine.Child{Exe: exe})
				ev = inc
			}
			d, err := daemon.New(daemon.Config{
				Remote: remote, Publisher: &status.Publisher{Remote: remote}, Interval: time.Hour, Evaluator: ev,
				Connect: engine.ConnectWatchingWith(engine.WatchOptions{NoTunnels: true}), Log: testLog(),
			})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			ctx := context.Background()
			start := time.Now()
			converge := func() {
				for i := 0; ; i++ {
					if d.Pass(ctx) == daemon.ResultConverged {
						return
					}
					if i == 5 {
						b.Fatal("not converged in 5 passes")
					}
				}
			}
			converge()
			b.Logf("%s: first converge (all 30,000 containers present or made) %s", mode, time.Since(start).Round(time.Millisecond))
			d.Pass(ctx) // the echo of the setup's own changes
			students := campusStudents
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				students++
				sha := repo.Push("one more student", map[string]string{"environments/c042.jsonnet": campusCourse(42, students, format)})
				b.StartTimer()
				// Converged and reported: every host's report on the
				// status branch converged at the pushed commit, as the
				// soak measures it (the pass after, which finds
				// nothing to do, is not counted).
				start := time.Now()
				for i := 0; ; i++ {
					d.Pass(ctx)
					took := time.Since(start)
					b.StopTimer()
					if n, all := reportsAt(b, repo.Bare(), sha); n == campusSites && all == campusSites {
						total += took
						break
					}
					if i == 5 {
						b.Fatal("not converged and reported in 5 passes")
					}
					b.StartTimer()
				}
				converge()
				b.StartTimer()
			}
			b.ReportMetric(total.Seconds()*1000/float64(b.N), "push-to-converged-ms")
			if mode == "incremental" {
				s := inc.Cache.Stats()
				b.ReportMetric(float64(s.Misses), "files-evaluated")
			}
		})
	}
}
