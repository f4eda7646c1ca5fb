package e2e_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/test/jupyter"
	"github.com/rensei-dev/rensei/test/lab/labtest"
)

// BenchmarkCourseLab applies a course of 40 and of 100 students over the
// lab's three sites (the front door at site-c) and reports:
//   - apply_s: rensei apply, cold (every container made);
//   - ready_s: from the apply's start until every student's server
//     answers through the front door, from the WAN side;
//   - rensei_ctr/s and dockerrun_ctr/s: containers made per second by the
//     apply, and by the three engines themselves (docker run -d of the same
//     image, four at a time per site, all sites at once) in the same run;
//     ratio is the first over the second;
//   - idle_MiB: mean memory of an idle notebook server (docker stats).
//
// make bench runs it; it takes a few minutes (a notebook server needs
// about 2 s of CPU to start, and this machine has 2 cores).
func BenchmarkCourseLab(b *testing.B) {
	for _, n := range []int{40, 100} {
		b.Run(fmt.Sprintf("students=%d", n), func(b *testing.B) {
			st := labtest.ForTest(b, 3)
			docker := map[string]string{}
			for _, s := range st.Sites {
				docker[s.Name] = s.Docker
			}
			loadImages(b, "notebook", "frontdoor")
			wanClient(b, 200)
			for i := 0; i < b.N; i++ {
				base := dockerRunRate(b, docker, n)
				students := make([]string, n)
				for j := range students {
					students[j] = fmt.Sprintf("s%03d", j)
				}
				r := newCourseRepo(b, fmt.Sprintf("bench%d", n), students)
				r.sites = "['site-a', 'site-b', 'site-c']"
				r.extra = "cpus=0.1,\n  memory='160Mi',"
				r.setRoster(b, students)
				start := time.Now()
				runRensei(b, "apply", "--yes", "--secrets-dir", r.secrets, r.dir)
				applied := time.Since(start)
				acc := r.access(b)
				var wg sync.WaitGroup
				for _, s := range students {
					a := acc[s]
					wg.Go(func() {
						jupyter.Eventually(b, 10*time.Minute, s+"'s server through the front door", func() error {
							return jupyter.WantStatus(200)(jupyter.Call("GET", a.URL+"api/status", a.Token, nil))
						})
					})
				}
				wg.Wait()
				ready := time.Since(start)
				time.Sleep(10 * time.Second) // let the servers settle to idle
				idle := idleMemory(b, docker, "bench"+strconv.Itoa(n)+"_nb_")
				rate := float64(n+1) / applied.Seconds()
				b.ReportMetric(applied.Seconds(), "apply_s")
				b.ReportMetric(ready.Seconds(), "ready_s")
				b.ReportMetric(rate, "rensei_ctr/s")
				b.ReportMetric(base, "dockerrun_ctr/s")
				b.ReportMetric(rate/base, "ratio")
				b.ReportMetric(idle, "idle_MiB")
				b.Logf("%d students: apply %s, every server answering through the front door after %s; %.1f containers/s against the engines' own %.1f (×%.2f); idle server %.1f MiB",
					n, applied.Round(time.Millisecond), ready.Round(time.Millisecond), rate, base, rate/base, idle)
				runRensei(b, "apply", "--yes", "--at", "2100-01-02", "--secrets-dir", r.secrets, r.dir)
			}
		})
	}
}

// dockerRunRate runs n notebook servers with docker run -d as Rensei makes
// them (a home volume each, a static address on a bridge network), split
// over the sites, four at a time per site and all sites at once, and
// returns the containers started per second; it removes them again.
func dockerRunRate(b *testing.B, docker map[string]string, n int) float64 {
	b.Helper()
	for _, d := range docker {
		must(b, "docker", "-H", d, "network", "create", "--subnet", "198.19.250.0/24", "--label", "rensei.bench=1", "bench-net")
	}
	var wg sync.WaitGroup
	start := time.Now()
	i := 0
	for site, d := range docker {
		per := n / len(docker)
		names := make(chan int, per)
		for j := 0; j < per; j++ {
			names <- j
			i++
		}
		close(names)
		for w := 0; w < 4; w++ {
			wg.Go(func() {
				for j := range names {
					name := fmt.Sprintf("bench-run-%s-%d", site, j)
					if out, err := command("docker", "-H", d, "run", "-d", "--name", name, "--cpus", "0.1", "--memory", "160m",
						"--network", "bench-net", "--ip", fmt.Sprintf("198.19.250.%d", 10+j), "-v", name+":/home/student",
						"-e", "NOTEBOOK_TOKEN=bench", "--label", "rensei.bench=1", "rensei/notebook:latest"); err != nil {
						b.Errorf("docker run %s: %v: %s", name, err, out)
					}
				}
			})
		}
	}
	wg.Wait()
	took := time.Since(start)
	for _, d := range docker {
		ids := strings.Fields(must(b, "docker", "-H", d, "ps", "-aq", "--filter", "label=rensei.bench=1"))
		if len(ids) > 0 {
			must(b, "docker", append([]string{"-H", d, "rm", "-f", "-v"}, ids...)...)
		}
		vols := strings.Fields(must(b, "docker", "-H", d, "volume", "ls", "-q", "--filter", "name=bench-run-"))
		if len(vols) > 0 {
			must(b, "docker", append([]string{"-H", d, "volume", "rm"}, vols...)...)
		}
		must(b, "docker", "-H", d, "network", "rm", "bench-net")
	}
	return float64(i) / took.Seconds()
}

// idleMemory is the mean memory (docker stats' usage) of the containers
// whose names start with prefix, over every site.
func idleMemory(b *testing.B, docker map[string]string, prefix string) float64 {
	b.Helper()
	var sum float64
	n := 0
	for _, d := range docker {
		out := must(b, "docker", "-H", d, "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}")
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || !strings.HasPrefix(f[0], prefix) {
				continue
			}
			if v, ok := mebibytes(f[1]); ok {
				sum += v
				n++
			}
		}
	}
	if n == 0 {
		b.Fatalf("no container named %s* in docker stats", prefix)
	}
	return sum / float64(n)
}

// mebibytes parses docker stats' "69.55MiB" (or KiB, GiB).
func mebibytes(s string) (float64, bool) {
	for unit, scale := range map[string]float64{"KiB": 1.0 / 1024, "MiB": 1, "GiB": 1024} {
		if v, ok := strings.CutSuffix(s, unit); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f * scale, err == nil
		}
	}
	return 0, false
}
