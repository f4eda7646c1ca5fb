package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/test/images"
)

// Label keys, spelled out rather than imported: these tests check the
// contract from outside, as an operator's `docker` command would.
const (
	labelManaged  = "io.rensei.managed"
	labelEnv      = "io.rensei.env"
	labelGroup    = "io.rensei.group"
	labelInstance = "io.rensei.instance"
	labelSpecHash = "io.rensei.spec-hash"
	labelScope    = "io.rensei.scope"
)

// binary is the rensei binary TestMain built for this run.
var binary string

// TestMain builds the CLI once, runs the tests and removes the binary.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/cli:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "rensei-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/cli:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "rensei")
	build := exec.Command("go", "build", "-o", binary, "./cmd/rensei")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "test/cli: go build ./cmd/rensei: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// moduleRoot is the directory holding go.mod, found upwards from here.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// result is one run of the binary.
type result struct {
	args   []string
	code   int
	stdout string
	stderr string
	took   time.Duration
}

// out is stdout and stderr together, for assertions on messages that may
// go to either.
func (r result) out() string { return r.stdout + r.stderr }

func (r result) String() string {
	return fmt.Sprintf("rensei %s → exit %d in %s\n--- stdout\n%s--- stderr\n%s",
		strings.Join(r.args, " "), r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// rensei runs the binary with args in the repository's deployment scope
// (RENSEI_SCOPE) and returns what it did; it fails the test only when the
// binary cannot be run at all or does not end in time.
func (r *repo) rensei(args ...string) result {
	r.t.Helper()
	return runRensei(r.t, r.scope, args...)
}

func runRensei(t *testing.T, scope string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = t.TempDir() // never the embedded quickstart by accident
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "RENSEI_SCOPE="+scope)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("rensei %s: did not finish within 2m\n%s", strings.Join(args, " "), r)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("rensei %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("%s", r)
	return r
}

// wantExit fails the test unless r ended with code.
func wantExit(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("want exit %d, got:\n%s", code, r)
	}
}

// wantContains fails the test unless s holds every part.
func wantContains(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s does not contain %q:\n%s", what, p, s)
		}
	}
}

// --- the engine ---

var engineOnce struct {
	sync.Once
	cli *client.Client
	err error
}

// endpoint is the engine under test: $DOCKER_HOST or the local socket. The
// config repositories point their site at the same endpoint.
func endpoint() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return "unix:///var/run/docker.sock"
}

// engine returns a client of the machine's Docker engine with the busybox
// image built. Without root or an engine the test is skipped, or fails
// when CI=true: a skipped end-to-end test hides the bugs it exists for.
func engine(t *testing.T) *client.Client {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: a missing prerequisite is a failure)", msg)
		}
		t.Skip(msg)
	}
	if os.Geteuid() != 0 {
		missing("not root: the CLI manages tunnels and the engine as root")
	}
	engineOnce.Do(func() {
		cli, err := client.NewClientWithOpts(client.WithHost(endpoint()), client.WithAPIVersionNegotiation())
		if err != nil {
			engineOnce.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := cli.Ping(ctx); err != nil {
			engineOnce.err = err
			cli.Close()
			return
		}
		if err := images.Ensure(context.Background(), cli, images.Busybox); err != nil {
			engineOnce.err = fmt.Errorf("build %s: %w", images.Busybox, err)
			cli.Close()
			return
		}
		engineOnce.cli = cli
	})
	if engineOnce.err != nil {
		if strings.Contains(engineOnce.err.Error(), "build ") {
			t.Fatal(engineOnce.err)
		}
		missing("docker engine at %s unreachable: %v", endpoint(), engineOnce.err)
	}
	return engineOnce.cli
}

// lockPath serialises the tests that apply, between the tests of this
// package and between test processes.
const lockPath = "/run/rensei-cli-e2e.lock"

// exclusive holds the machine-wide lock of the tests that apply until the
// test ends, after the environments of repos are removed. Every test runs
// in a deployment scope of its own, so applies would not prune each
// other's environments anyway; the lock keeps each test's before/after
// views of the engine free of the others' churn, and the two cores free
// for the engine.
func exclusive(t *testing.T, repos ...*repo) {
	t.Helper()
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("lock: %v", err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			t.Fatalf("lock %s: %v", lockPath, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Last in, first out: this runs after the test's own cleanups and
	// before newRepo's, so the environments go before the lock does.
	t.Cleanup(func() {
		for _, r := range repos {
			removeEnv(t, r.cli, r.env)
		}
		f.Close()
	})
}

// --- one test's config repository and environment ---

// repo is one test's config repository, with an environment name of its
// own and subnets no other test uses.
type repo struct {
	t     *testing.T
	dir   string
	env   string
	scope string         // the deployment scope: io.rensei.scope of what it makes
	cli   *client.Client // nil for tests that never reach the engine
}

// newEnvName is "t" and random hex: unique, lower case, 9 bytes.
func newEnvName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

// newRepo makes an empty config repository with the local site. cli may
// be nil; otherwise everything carrying the environment's label (and the
// extra objects the test registers) is removed when the test ends, passed
// or failed.
func newRepo(t *testing.T, cli *client.Client) *repo {
	t.Helper()
	env := newEnvName()
	r := &repo{t: t, dir: t.TempDir(), env: env, scope: "test-cli-" + env, cli: cli}
	r.write("sites/local.jsonnet", localSite(""))
	if cli != nil {
		t.Cleanup(func() { removeEnv(t, cli, r.env) })
	}
	return r
}

// localSite is examples/quickstart's site pointing at the engine under
// test; capacity overrides the host's capacity when not empty.
func localSite(capacity string) string {
	if capacity == "" {
		capacity = "{ cpus: 2, memory: '8Gi' }"
	}
	return fmt.Sprintf(`local r = import 'rensei.libsonnet';

r.site('local', [
  r.host('docker', docker='%s', capacity=%s),
], labels={ kind: 'local' })
`, endpoint(), capacity)
}

// write puts content at rel in the repository.
func (r *repo) write(rel, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// remove deletes rel from the repository.
func (r *repo) remove(rel string) {
	r.t.Helper()
	if err := os.Remove(filepath.Join(r.dir, rel)); err != nil {
		r.t.Fatal(err)
	}
}

// container names an instance of the test's environment.
func (r *repo) container(group, instance string) string {
	return r.env + "_" + group + "_" + instance
}

// removeEnv removes every container, network and volume labelled with env.
// It uses a fresh context: the test's own may be over.
func removeEnv(t *testing.T, cli *client.Client, env string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", labelEnv+"="+env))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, c := range cs {
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: container %v: %v", c.Names, err)
		}
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, n := range ns {
		if err := cli.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: network %s: %v", n.Name, err)
		}
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, v := range vs.Volumes {
		if err := cli.VolumeRemove(ctx, v.Name, true); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: volume %s: %v", v.Name, err)
		}
	}
}

// envObjects lists what carries the environment's label on the engine.
func envObjects(t *testing.T, cli *client.Client, env string) []string {
	t.Helper()
	ctx := context.Background()
	f := filters.NewArgs(filters.Arg("label", labelEnv+"="+env))
	var out []string
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		out = append(out, "container "+strings.Join(c.Names, ","))
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		out = append(out, "network "+n.Name)
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs.Volumes {
		out = append(out, "volume "+v.Name)
	}
	return out
}

// --- subnets ---

var subnets struct {
	sync.Mutex
	used map[int]bool // third octets handed out by this process
}

// freeSubnet returns a /24 in 198.19.200.0–198.19.254.0 that no network on
// the engine overlaps and that this process has not handed out before:
// Docker refuses overlapping pools on one engine.
func freeSubnet(t *testing.T, cli *client.Client) netip.Prefix {
	t.Helper()
	subnets.Lock()
	defer subnets.Unlock()
	if subnets.used == nil {
		subnets.used = map[int]bool{}
	}
	var taken []netip.Prefix
	if cli != nil {
		ns, err := cli.NetworkList(context.Background(), network.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			for _, c := range n.IPAM.Config {
				if p, err := netip.ParsePrefix(c.Subnet); err == nil {
					taken = append(taken, p)
				}
			}
		}
	}
	start := 200 + mrand.IntN(55)
	for i := range 55 {
		o := 200 + (start-200+i)%55
		p := netip.MustParsePrefix(fmt.Sprintf("198.19.%d.0/24", o))
		if subnets.used[o] || slices.ContainsFunc(taken, p.Overlaps) {
			continue
		}
		subnets.used[o] = true
		return p
	}
	t.Fatal("no free /24 left in 198.19.200.0–198.19.254.0")
	return netip.Prefix{}
}

// hostAddr is the address at offset n in p.
func hostAddr(p netip.Prefix, n int) string {
	a := p.Addr()
	for range n {
		a = a.Next()
	}
	return a.String()
}

// --- looking at the engine from outside ---

// inspect returns the container of that exact name; found false when absent.
func inspect(t *testing.T, cli *client.Client, name string) (container.InspectResponse, bool) {
	t.Helper()
	c, err := cli.ContainerInspect(context.Background(), name)
	if cerrdefs.IsNotFound(err) {
		return c, false
	}
	if err != nil {
		t.Fatalf("inspect %s: %v", name, err)
	}
	if strings.TrimPrefix(c.Name, "/") != name {
		return c, false
	}
	return c, true
}

// mustRun returns the container, failing the test unless it exists and runs.
func mustRun(t *testing.T, cli *client.Client, name string) container.InspectResponse {
	t.Helper()
	c, ok := inspect(t, cli, name)
	if !ok {
		t.Fatalf("container %s does not exist", name)
	}
	if !c.State.Running {
		t.Fatalf("container %s is %s, not running", name, c.State.Status)
	}
	return c
}

// docker runs the docker command-line tool and returns its output.
func docker(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return string(out), err
}

// mustDocker is docker failing the test on error.
func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := docker(t, args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// foreignContainer creates and (when start) starts a busybox container that
// Rensei does not own, with the given labels, and removes it when the test
// ends.
func foreignContainer(t *testing.T, cli *client.Client, name string, labels map[string]string, start bool) string {
	t.Helper()
	ctx := context.Background()
	resp, err := cli.ContainerCreate(ctx,
		&container.Config{Image: images.Busybox, Cmd: []string{"sleep", "3600"}, Labels: labels},
		&container.HostConfig{}, nil, nil, name)
	if err != nil {
		t.Fatalf("create foreign container %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.Background(), resp.ID, container.RemoveOptions{Force: true})
	})
	if start {
		if err := cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
			t.Fatalf("start foreign container %s: %v", name, err)
		}
	}
	return resp.ID
}

// tagImage tags the busybox image also as ref and removes that tag when the
// test ends (after the test's containers are gone: cleanups run last in,
// first out, and the environment's cleanup was registered before).
func tagImage(t *testing.T, cli *client.Client, ref string) {
	t.Helper()
	if err := cli.ImageTag(context.Background(), images.Busybox, ref); err != nil {
		t.Fatalf("tag %s as %s: %v", images.Busybox, ref, err)
	}
	t.Cleanup(func() {
		// The environment's containers may still use the tag; they go first.
		f := filters.NewArgs(filters.Arg("ancestor", ref))
		if cs, err := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: f}); err == nil {
			for _, c := range cs {
				if c.Image == ref {
					_ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
				}
			}
		}
		if _, err := cli.ImageRemove(context.Background(), ref, image.RemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: untag %s: %v", ref, err)
		}
	})
}
