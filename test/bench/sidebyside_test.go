package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/schema"
	"github.com/rensei-dev/rensei/test/images"
)

// sideBySide is how many containers each tool starts and removes.
const sideBySide = 100

// localDocker checks the prerequisites of the side-by-side benchmark: this
// machine's Docker engine with the busybox image, the docker command and
// docker-compose. It skips without them, or fails when CI=true.
func localDocker(b *testing.B) {
	b.Helper()
	missing := func(why string, err error) {
		if os.Getenv("CI") == "true" {
			b.Fatalf("%s (CI=true: a missing prerequisite is a failure): %v", why, err)
		}
		b.Skipf("%s: %v", why, err)
	}
	for _, tool := range []string{"docker", "docker-compose"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing("needs "+tool+" (make deps installs it)", err)
		}
	}
	cli, err := client.NewClientWithOpts(client.WithHost("unix:///var/run/docker.sock"), client.WithAPIVersionNegotiation())
	if err != nil {
		missing("needs the local Docker engine", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := images.Ensure(ctx, cli, images.Busybox); err != nil {
		missing("needs the local Docker engine with "+images.Busybox, err)
	}
}

// sh runs a command and fails b on error; it returns the output.
func sh(b *testing.B, name string, args ...string) string {
	b.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// fourAtATime runs f(0..n-1), four at a time, and fails b on any error.
func fourAtATime(b *testing.B, n int, f func(i int) error) {
	b.Helper()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range 4 {
		wg.Go(func() {
			for i := range jobs {
				if err := f(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if len(errs) > 0 {
		b.Fatal(errs[0])
	}
}

// removeLabelled force-removes every container and network carrying the
// label on the local engine: the cleanup of a benchmark, also on failure.
func removeLabelled(label string) {
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+label).Output()
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
	out, _ = exec.Command("docker", "network", "ls", "-q", "--filter", "label="+label).Output()
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		exec.Command("docker", append([]string{"network", "rm"}, ids...)...).Run()
	}
}

// BenchmarkSideBySide100 starts and removes 100 sleeping busybox containers
// on one network of this machine's engine, in one run, three ways: Rensei
// (engine.Pass of an environment of 100 replicas, then of none: plan,
// apply four at a time per host, plan again), `docker run -d` four at a
// time (then `docker rm -f` four at a time), and `docker-compose up -d
// --scale` (then `docker-compose down`). It reports each tool's rate and
// the ratios the issue asks for: Rensei up against docker run and against
// compose up, and compose down's time against Rensei's.
func BenchmarkSideBySide100(b *testing.B) {
	localDocker(b)
	var r [4]byte
	rand.Read(r[:])
	tag := hex.EncodeToString(r[:])
	label := "io.rensei.bench=" + tag
	b.Cleanup(func() { removeLabelled(label) })
	ctx := context.Background()

	// Rensei: a deployment of its own scope, so nothing else is touched.
	scope := "bench-" + tag
	subnet := fmt.Sprintf("198.19.%d.0/24", 200+int(r[0])%50)
	env := fmt.Sprintf(`{
  name: 'sbs%s',
  networks: [{ name: 'lan', subnet: %q, hostPrefix: 25 }],
  groups: [{ name: 'c', image: %q, command: ['sleep', '3600'], replicas: %d, networks: [{ network: 'lan' }] }],
}
`, tag, subnet, images.Busybox, sideBySide)
	repo := fstest.MapFS{
		"sites/local.jsonnet":      {Data: []byte("[{ name: 'local', hosts: [{ name: 'docker', docker: 'unix:///var/run/docker.sock' }] }]\n")},
		"policy/deploy.jsonnet":    {Data: []byte(fmt.Sprintf("{ deployment: %q }\n", scope))},
		"environments/sbs.jsonnet": {Data: []byte(env)},
	}
	rev, err := engine.Load(ctx, engine.Source{FS: repo, Commit: "up"}, nil, schema.Options{}, "")
	if err != nil {
		b.Fatal(err)
	}
	up, err := rev.At(time.Now())
	if err != nil {
		b.Fatal(err)
	}
	delete(repo, "environments/sbs.jsonnet")
	empty, err := engine.Load(ctx, engine.Source{FS: repo, Commit: "down"}, nil, schema.Options{}, "")
	if err != nil {
		b.Fatal(err)
	}
	down, err := empty.At(time.Now())
	if err != nil {
		b.Fatal(err)
	}
	hosts, err := engine.Connect(rev.Topology, nil, rev.Scope, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { hosts.Close() })
	b.Cleanup(func() { engine.Pass(context.Background(), down, hosts, engine.Options{}) })
	var renseiCPU time.Duration
	rensei := func(want *place.Desired) time.Duration {
		start, cpu := time.Now(), cpuTime(b)
		out := engine.Pass(ctx, want, hosts, engine.Options{})
		took := time.Since(start)
		renseiCPU += cpuTime(b) - cpu
		if err := out.Err(); err != nil {
			b.Fatal(err)
		}
		return took
	}

	// docker-compose: one service scaled to 100.
	dir := b.TempDir()
	compose := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(compose, []byte(fmt.Sprintf(`version: "2.4"
services:
  c:
    image: %s
    command: ["sleep", "3600"]
    labels: ["%s"]
networks:
  default:
    labels: ["%s"]
`, images.Busybox, label, label)), 0o644); err != nil {
		b.Fatal(err)
	}
	project := "rsbench" + tag
	b.Cleanup(func() { exec.Command("docker-compose", "-p", project, "-f", compose, "down", "-t", "0").Run() })

	var renseiUp, renseiDown, runUp, runDown, composeUp, composeDown time.Duration
	for b.Loop() {
		renseiUp += rensei(up)
		renseiDown += rensei(down)

		net := "rsbench-" + tag
		start := time.Now()
		sh(b, "docker", "network", "create", "--label", label, net)
		fourAtATime(b, sideBySide, func(i int) error {
			name := fmt.Sprintf("rsbench-%s-%03d", tag, i)
			if out, err := exec.Command("docker", "run", "-d", "--name", name, "--network", net, "--label", label,
				images.Busybox, "sleep", "3600").CombinedOutput(); err != nil {
				return fmt.Errorf("docker run %s: %v: %s", name, err, out)
			}
			return nil
		})
		runUp += time.Since(start)
		start = time.Now()
		fourAtATime(b, sideBySide, func(i int) error {
			name := fmt.Sprintf("rsbench-%s-%03d", tag, i)
			if out, err := exec.Command("docker", "rm", "-f", name).CombinedOutput(); err != nil {
				return fmt.Errorf("docker rm -f %s: %v: %s", name, err, out)
			}
			return nil
		})
		sh(b, "docker", "network", "rm", net)
		runDown += time.Since(start)

		start = time.Now()
		sh(b, "docker-compose", "-p", project, "-f", compose, "up", "-d", "--scale", fmt.Sprintf("c=%d", sideBySide))
		composeUp += time.Since(start)
		start = time.Now()
		sh(b, "docker-compose", "-p", project, "-f", compose, "down")
		composeDown += time.Since(start)
	}
	rate := func(d time.Duration) float64 { return float64(sideBySide*b.N) / d.Seconds() }
	// Rensei's own CPU (this process) against the time it waited for the
	// engine: how much of the wall time is Rensei.
	b.ReportMetric(renseiCPU.Seconds()/float64(b.N), "rensei-cpu-s")
	b.ReportMetric(rate(renseiUp), "rensei-up/s")
	b.ReportMetric(rate(runUp), "run-up/s")
	b.ReportMetric(rate(composeUp), "compose-up/s")
	b.ReportMetric(rate(renseiDown), "rensei-down/s")
	b.ReportMetric(rate(runDown), "rm-down/s")
	b.ReportMetric(rate(composeDown), "compose-down/s")
	b.ReportMetric(runUp.Seconds()/renseiUp.Seconds(), "up-vs-run")
	b.ReportMetric(composeUp.Seconds()/renseiUp.Seconds(), "up-vs-compose")
	b.ReportMetric(composeDown.Seconds()/renseiDown.Seconds(), "down-vs-compose")
	b.Logf("100 containers up / down, mean of %d: rensei %s / %s, docker run ×4 %s / docker rm -f ×4 %s, docker-compose %s / %s; "+
		"rensei up %.2f× docker run (target ≥ 0.95), %.2f× compose up (≥ 1.2); down %.2f× faster than compose (≥ 3)",
		b.N, mean(renseiUp, b.N), mean(renseiDown, b.N), mean(runUp, b.N), mean(runDown, b.N), mean(composeUp, b.N), mean(composeDown, b.N),
		runUp.Seconds()/renseiUp.Seconds(), composeUp.Seconds()/renseiUp.Seconds(), composeDown.Seconds()/renseiDown.Seconds())
}

func mean(d time.Duration, n int) time.Duration {
	return (d / time.Duration(n)).Round(time.Millisecond)
}
