package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/test/images"
)

// opsRepo is a config repository on this machine's engine, in a
// deployment scope of its own: environment env (groups web, 2 replicas
// that write to stdout and stderr, and one) on an overlay network, and
// env+"n", whose window opens in 2099.
type opsRepo struct {
	dir, env string
	subnet   netip.Prefix
}

func newOpsRepo(t *testing.T, cli *client.Client) *opsRepo {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	r := &opsRepo{dir: t.TempDir(), env: "to" + hex.EncodeToString(b), subnet: opsSubnet(t, cli)}
	t.Cleanup(func() {
		removeLabelled(t, cli, r.env)
		removeLabelled(t, cli, r.env+"n")
	})
	r.write("policy/deployment.jsonnet", `{ deployment: '`+r.env+`' }`)
	r.write("sites/local.jsonnet", `local r = import 'rensei.libsonnet';
r.site('local', [r.host('docker', docker='`+testSocket+`')])
`)
	r.writeEnv(2)
	return r
}

// writeEnv writes the environments with this many web replicas.
func (r *opsRepo) writeEnv(replicas int) {
	r.write("environments/ops.jsonnet", fmt.Sprintf(`local r = import 'rensei.libsonnet';
[
  {
    name: '%[1]s',
    networks: [r.network('lan', '%[2]s')],
    groups: [
      r.group('web', '%[3]s', replicas=%[4]d) + {
        command: ['sh', '-c', 'echo started; echo oops >&2; exec sleep 3600'],
        networks: [{ network: 'lan' }],
        resources: { cpus: 0.1, memory: '32Mi' },
      },
      r.group('one', '%[3]s') + { command: ['sleep', '3600'], resources: { cpus: 0.1, memory: '32Mi' } },
    ],
  },
  {
    name: '%[1]sn',
    active: { from: '2099-01-01' },
    groups: [{ name: 's', image: '%[3]s', members: ['a', 'b'], command: ['sleep', '3600'], resources: { cpus: 0.1, memory: '32Mi' } }],
  },
]
`, r.env, r.subnet, images.Busybox, replicas))
}

func (r *opsRepo) write(name, content string) {
	p := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		panic(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		panic(err)
	}
}

// opsSubnet is a /24 in 198.19.160.0–198.19.199.0 that no network on the
// engine overlaps (Docker refuses overlapping pools).
func opsSubnet(t *testing.T, cli *client.Client) netip.Prefix {
	t.Helper()
	ns, err := cli.NetworkList(context.Background(), network.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var taken []netip.Prefix
	for _, n := range ns {
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil {
				taken = append(taken, p)
			}
		}
	}
	start := int(time.Now().UnixNano() % 40)
	for i := range 40 {
		p := netip.MustParsePrefix(fmt.Sprintf("198.19.%d.0/24", 160+(start+i)%40))
		if !slices.ContainsFunc(taken, p.Overlaps) {
			return p
		}
	}
	t.Fatal("no free /24 in 198.19.160.0–198.19.199.0")
	return netip.Prefix{}
}

// removeLabelled removes every container, network and volume of env.
func removeLabelled(t *testing.T, cli *client.Client, env string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", drivers.LabelEnv+"="+env))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, c := range cs {
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: container %v: %v", c.Names, err)
		}
	}
	ns, _ := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	for _, n := range ns {
		if err := cli.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: network %s: %v", n.Name, err)
		}
	}
	vs, _ := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	for _, v := range vs.Volumes {
		if err := cli.VolumeRemove(ctx, v.Name, true); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: volume %s: %v", v.Name, err)
		}
	}
}

// ran is one in-process run of the CLI.
type ran struct {
	stdout, stderr string
	err            error
}

// code is the exit status main would use.
func (r ran) code() int {
	var ee exitError
	switch {
	case errors.As(r.err, &ee):
		return ee.code
	case r.err != nil:
		return 1
	}
	return 0
}

// runOps runs rensei in-process with stdin in.
func runOps(t *testing.T, in string, args ...string) ran {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(in))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	r := ran{stdout: out.String(), stderr: errb.String(), err: err}
	t.Logf("rensei %s → %v\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), err, r.stdout, r.stderr)
	return r
}

// mustCLI is cli failing the test unless the exit status is code.
func mustCLI(t *testing.T, code int, args ...string) ran {
	t.Helper()
	r := runOps(t, "", args...)
	if r.code() != code {
		t.Fatalf("rensei %s: exit %d, want %d: %v", strings.Join(args, " "), r.code(), code, r.err)
	}
	return r
}

func wantIn(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s does not contain %q:\n%s", what, p, s)
		}
	}
}

// psJSON runs ps -o json and indexes the instances by ENV/GROUP/MEMBER.
func psJSON(t *testing.T, dir string, args ...string) map[string]engine.Instance {
	t.Helper()
	r := mustCLI(t, 0, append([]string{"ps", dir, "-o", "json"}, args...)...)
	var l engine.InstanceList
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatalf("ps -o json: %v\n%s", err, r.stdout)
	}
	out := map[string]engine.Instance{}
	for _, i := range l.Instances {
		out[i.Ref()] = i
	}
	return out
}

// TestOps drives the day-to-day commands against this machine's engine:
// ps before and after a saved plan is applied, exec and logs (streams,
// exit codes, unknown and stopped instances), env list and show, a saved
// plan refused when the revision changed, apply --dry-run, --hosts with
// an unknown host, and -o validation.
func TestOps(t *testing.T) {
	cli0 := dockerClient(t)
	ctx := context.Background()
	if err := images.Ensure(ctx, cli0, images.Busybox); err != nil {
		t.Fatal(err)
	}
	r := newOpsRepo(t, cli0)
	e := r.env

	// Before anything is applied: every instance is missing.
	got := psJSON(t, r.dir)
	for _, ref := range []string{e + "/web/0", e + "/web/1", e + "/one/0"} {
		if i, ok := got[ref]; !ok || i.State != engine.StateMissing || !i.Desired || i.Matches || i.Action != "create" {
			t.Errorf("before apply, %s: %+v, want missing, desired, to create", ref, i)
		}
	}
	if len(got) != 3 {
		t.Errorf("want 3 instances (%sn is scheduled), got %v", e, got)
	}

	// --hosts naming a host the topology lacks is an error, not "No changes".
	for _, cmd := range [][]string{{"ps", r.dir}, {"plan", r.dir}, {"apply", "--yes", r.dir}, {"hosts", r.dir},
		{"volumes", "list", r.dir}, {"env", "list", r.dir}, {"access", r.dir, "--env", e}} {
		res := mustCLI(t, 1, append(cmd, "--hosts", "nosuch")...)
		wantIn(t, strings.Join(cmd, " ")+" --hosts nosuch", res.err.Error(), `unknown host "nosuch"`, "local/docker")
	}

	// A saved plan, applied as it was made.
	planFile := filepath.Join(t.TempDir(), "ops.plan")
	res := mustCLI(t, 0, "plan", r.dir, "-out", planFile)
	wantIn(t, "plan -out", res.stdout, "+ container "+e+"_web_0", "Saved the plan to "+planFile,
		"When scheduled windows open", e+"n opens 2099-01-01: containers +2")
	if st, err := os.Stat(planFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("plan file: %v %v, want mode 0600", st, err)
	}
	res = mustCLI(t, 0, "apply", "--dry-run", planFile)
	wantIn(t, "apply --dry-run PLANFILE", res.stderr, "is current")
	res = mustCLI(t, 0, "apply", planFile)
	wantIn(t, "apply PLANFILE", res.stdout, "Converged")
	wantIn(t, "apply PLANFILE progress", res.stderr, "local/docker: + container "+e+"_web_0: done")
	res = mustCLI(t, 1, "apply", planFile)
	wantIn(t, "apply of a used plan", res.err.Error(), "is stale, nothing was applied", "live: local/docker: container "+e+"_web_0 appeared")

	got = psJSON(t, r.dir)
	for _, ref := range []string{e + "/web/0", e + "/web/1", e + "/one/0"} {
		i := got[ref]
		if i.State != engine.StateRunning || !i.Matches || i.Since.IsZero() || i.Site != "local" || i.Host != "local/docker" {
			t.Errorf("after apply, %s: %+v", ref, i)
		}
	}
	if a := got[e+"/web/0"].Addresses; len(a) != 1 || a[0].Network != "lan" || !r.subnet.Contains(netip.MustParseAddr(a[0].IPv4)) {
		t.Errorf("web/0's addresses %v, want one on lan in %s", a, r.subnet)
	}

	// exec: output, errors and exit code through; stdin with -i.
	res = runOps(t, "", "exec", r.dir, e+"/web/0", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
	if res.stdout != "out\n" || res.stderr != "err\n" || res.code() != 3 {
		t.Errorf("exec: stdout %q stderr %q exit %d; want out, err, 3", res.stdout, res.stderr, res.code())
	}
	res = runOps(t, "hello\nworld\n", "exec", "-i", r.dir, e+"/one", "--", "cat")
	if res.stdout != "hello\nworld\n" || res.code() != 0 {
		t.Errorf("exec -i cat: stdout %q exit %d", res.stdout, res.code())
	}
	res = runOps(t, "", "exec", "-t", r.dir, e+"/one/0", "--", "true")
	wantIn(t, "exec -t without a terminal", res.stderr, "not a terminal")
	res = mustCLI(t, 1, "exec", r.dir, e+"/wbe/0", "--", "true")
	if !errors.Is(res.err, engine.ErrNoInstance) {
		t.Errorf("exec of a typo: %v, want ErrNoInstance", res.err)
	}
	wantIn(t, "exec of a typo", res.err.Error(), `environment `+e+` has no group "wbe"`, "did you mean "+e+"/web/0")
	res = mustCLI(t, 1, "exec", r.dir, e+"n/s/a", "--", "true")
	wantIn(t, "exec in a scheduled environment", res.err.Error(), "is scheduled: its window opens 2099-01-01")

	// logs: both streams, --tail, --since.
	res = mustCLI(t, 0, "logs", r.dir, e+"/web/0")
	if res.stdout != "started\n" || res.stderr != "oops\n" {
		t.Errorf("logs: stdout %q stderr %q", res.stdout, res.stderr)
	}
	res = mustCLI(t, 0, "logs", r.dir, e+"/web/0", "--tail", "1")
	// The engine copies stdout and stderr separately: either line may be last.
	if both := res.stdout + res.stderr; both != "oops\n" && both != "started\n" {
		t.Errorf("logs --tail 1: stdout %q stderr %q, want one line", res.stdout, res.stderr)
	}
	res = mustCLI(t, 0, "logs", r.dir, e+"/web/0", "--since", "1h")
	wantIn(t, "logs --since 1h", res.stdout, "started")
	mustCLI(t, 1, "logs", r.dir, e+"/web/0", "--since", "yesterday-ish")

	// A stopped instance: exec says so, logs still show its log.
	zero := 0
	if err := cli0.ContainerStop(ctx, e+"_web_1", container.StopOptions{Timeout: &zero}); err != nil {
		t.Fatal(err)
	}
	res = mustCLI(t, 1, "exec", r.dir, e+"/web/1", "--", "true")
	if !errors.Is(res.err, engine.ErrNotRunning) {
		t.Errorf("exec in a stopped instance: %v, want ErrNotRunning", res.err)
	}
	wantIn(t, "exec in a stopped instance", res.err.Error(), e+"/web/1 on local/docker is not running", "exited (code 137) since")
	res = mustCLI(t, 0, "logs", r.dir, e+"/web/1")
	wantIn(t, "logs of a stopped instance", res.stderr, "is exited (code 137)", "oops")
	wantIn(t, "logs of a stopped instance", res.stdout, "started")

	// An owned container the configuration does not want is listed too.
	stray := e + "_ghost_0"
	_, err := cli0.ContainerCreate(ctx, &container.Config{Image: images.Busybox, Cmd: []string{"sleep", "3600"}, Labels: map[string]string{
		drivers.LabelManaged: "true", drivers.LabelScope: e, drivers.LabelEnv: e, drivers.LabelGroup: "ghost", drivers.LabelInstance: "0"}},
		&container.HostConfig{}, nil, nil, stray)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli0.ContainerStart(ctx, stray, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	got = psJSON(t, r.dir, "--env", e)
	if i := got[e+"/web/1"]; i.State != "exited" || i.ExitCode != 137 || i.Matches || i.Action != "update" {
		t.Errorf("stopped web/1: %+v", i)
	}
	if i := got[e+"/ghost/0"]; i.Desired || i.State != engine.StateRunning || i.Action != "delete" {
		t.Errorf("the stray: %+v, want running, not desired, to delete", i)
	}
	res = mustCLI(t, 0, "ps", r.dir, "--site", "local")
	wantIn(t, "ps text", res.stdout, "ENV", "PLAN", "exited(137)", "~ update: stopped", "- delete:", "lan="+r.subnet.Addr().String()[:len(r.subnet.Addr().String())-1],
		"4 instances: 3 running, 1 exited; 1 not desired; 2 differ from the plan.")
	res = mustCLI(t, 1, "ps", r.dir, "--env", "nosuch")
	wantIn(t, "ps --env nosuch", res.err.Error(), `unknown environment "nosuch"`, e)
	res = mustCLI(t, 1, "ps", r.dir, "--site", "nowhere")
	wantIn(t, "ps --site nowhere", res.err.Error(), `unknown site "nowhere"`, "local")

	// env list and show.
	res = mustCLI(t, 0, "env", "list", r.dir, "-o", "json")
	var envs []engine.EnvView
	if err := json.Unmarshal([]byte(res.stdout), &envs); err != nil {
		t.Fatal(err)
	}
	var mine, next *engine.EnvView
	for k := range envs {
		switch envs[k].Name {
		case e:
			mine = &envs[k]
		case e + "n":
			next = &envs[k]
		}
	}
	switch {
	case mine == nil || next == nil:
		t.Fatalf("env list: %+v", envs)
	case mine.State != "active" || mine.Desired != 3 || mine.Running != 2 || mine.Undesired != 1 || len(mine.Drift) != 2 || len(mine.Problems) != 1 || mine.Problems[0].Code != engine.ProblemNotRunning:
		t.Errorf("env list, %s: %+v", e, *mine)
	case len(mine.Sites) != 1 || !reflect.DeepEqual(mine.Sites[0], engine.EnvSite{Site: "local", Desired: 3, Running: 2, Hosts: []engine.EnvHost{{Host: "local/docker", Desired: 3, Running: 2}}}):
		t.Errorf("env list, %s, sites: %+v", e, mine.Sites)
	case next.State != "scheduled" || next.Desired != 0:
		t.Errorf("env list, %sn: %+v", e, *next)
	}
	res = mustCLI(t, 0, "env", "list", r.dir)
	wantIn(t, "env list", res.stdout, "ENVIRONMENT", e+"n", "scheduled", "opens 2099-01-01")
	res = mustCLI(t, 0, "env", "show", r.dir, e)
	wantIn(t, "env show", res.stdout, "Environment "+e, "State:     active, always", "Instances: 2 running of 3 desired; 1 container(s) no longer desired",
		"Drift:     2 step(s)", "- container "+stray, "not-running: "+e+"/web/1 on local/docker: exited (code 137)")
	res = mustCLI(t, 1, "env", "show", r.dir, "nosuch")
	wantIn(t, "env show nosuch", res.err.Error(), `no environment "nosuch"`, e)

	// apply --dry-run is plan.
	planned := mustCLI(t, 0, "plan", r.dir)
	dry := mustCLI(t, 0, "apply", "--dry-run", r.dir)
	if planned.stdout != dry.stdout {
		t.Errorf("apply --dry-run differs from plan:\n%s\n---\n%s", dry.stdout, planned.stdout)
	}

	// A saved plan is refused once the configuration changed.
	planFile = filepath.Join(t.TempDir(), "stale.plan")
	mustCLI(t, 0, "plan", "-out", planFile, r.dir)
	r.writeEnv(3)
	res = mustCLI(t, 1, "apply", planFile)
	wantIn(t, "apply of a plan whose configuration changed", res.err.Error(), "is stale, nothing was applied",
		"revision: file environments/ops.jsonnet changed")
	if _, err := cli0.ContainerInspect(ctx, e+"_web_2"); !cerrdefs.IsNotFound(err) {
		t.Errorf("web/2 was made by a refused plan: %v", err)
	}
	if st, _ := cli0.ContainerInspect(ctx, stray); st.State == nil || !st.State.Running {
		t.Errorf("the stray was removed by a refused plan")
	}

	// Every command with -o refuses a format it does not know.
	for _, cmd := range [][]string{{"ps", r.dir}, {"env", "list", r.dir}, {"env", "show", r.dir, e}, {"apply", r.dir}, {"plan", r.dir}} {
		res := mustCLI(t, 1, append(cmd, "-o", "xml")...)
		wantIn(t, strings.Join(cmd, " ")+" -o xml", res.err.Error(), `--output "xml"`)
	}
}
