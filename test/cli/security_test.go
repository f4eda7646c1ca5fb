package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
)

// TestNameClashIsBlocked is the hijack through a name clash: an engine
// already runs docker-compose's "gitlab" (network gitlab_default, volume
// gitlab_data, made here without Rensei's labels). An environment of the
// same name wanting a network "default" and an environment volume "data"
// gets exactly those Docker names. Rensei must not let its container join
// that network or mount that volume: the plan shows those steps blocked
// and why, nothing of theirs is touched, the group that does not need
// them still applies, and apply exits 1 naming what was blocked.
func TestNameClashIsBlocked(t *testing.T) {
	cli := engine(t)
	r := newRepo(t, cli)
	exclusive(t, r)
	ctx := context.Background()
	netName, volName := r.env+"_default", r.env+"_data"
	subnet := freeSubnet(t, cli)
	if _, err := cli.NetworkCreate(ctx, netName, network.CreateOptions{Driver: "bridge",
		IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet.String()}}},
		Labels: map[string]string{"com.docker.compose.network": "default"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.NetworkRemove(context.Background(), netName) })
	if _, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: volName, Labels: map[string]string{"com.docker.compose.volume": "data"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.VolumeRemove(context.Background(), volName, true) })
	r.write("environments/gitlab.jsonnet", `local r = import 'rensei.libsonnet';
{
  name: '`+r.env+`',
  networks: [r.network('default', '`+freeSubnet(t, cli).String()+`'), r.network('lan', '`+freeSubnet(t, cli).String()+`')],
  groups: [
    r.group('app', 'rensei/busybox:latest') + {
      command: ['sleep', 'infinity'],
      networks: [{ network: 'default' }],
      volumes: [{ name: 'data', path: '/data', scope: 'environment' }],
      files: [r.file('/data/owned', 'rensei was here')],
    },
    r.group('other', 'rensei/busybox:latest') + { command: ['sleep', 'infinity'], networks: [{ network: 'lan' }] },
  ],
}
`)
	plan := r.rensei("plan", r.dir)
	wantExit(t, plan, 0)
	wantContains(t, "plan", plan.stdout,
		"× network   "+netName+": network "+netName+" exists and is not managed by Rensei",
		"× volume    "+volName+": volume "+volName+" exists and is not managed by Rensei",
		"× container "+r.container("app", "0")+": network "+netName+" exists and is not managed by Rensei: not created",
		"+ container "+r.container("other", "0"), "BLOCKED")
	res := r.rensei("apply", "--yes", r.dir)
	wantExit(t, res, 1)
	wantContains(t, "apply", res.stderr, "blocked by objects that are not this deployment's", r.container("app", "0"))
	if _, found := inspect(t, cli, r.container("app", "0")); found {
		t.Fatalf("%s was created: it would have joined the foreign network or mounted the foreign volume", r.container("app", "0"))
	}
	mustRun(t, cli, r.container("other", "0"))
	n, err := cli.NetworkInspect(ctx, netName, network.InspectOptions{})
	if err != nil || len(n.Containers) != 0 || n.Labels[labelManaged] != "" {
		t.Errorf("the foreign network was touched: %v, containers %v, labels %v", err, n.Containers, n.Labels)
	}
	v, err := cli.VolumeInspect(ctx, volName)
	if err != nil || v.Labels[labelManaged] != "" {
		t.Errorf("the foreign volume was touched: %v, labels %v", err, v.Labels)
	}
}

// TestSafeDefaults reads back, with the engine's own view (docker
// inspect), what every container gets whatever its group says: limits,
// a PIDs limit, no-new-privileges, log rotation, its environment's own
// network rather than Docker's default bridge, and a published port bound
// to the host's publish address, never to every interface.
func TestSafeDefaults(t *testing.T) {
	cli := engine(t)
	r := newRepo(t, cli)
	exclusive(t, r)
	port := 20000 + int(r.env[1])%100*37 + int(r.env[2])%37
	r.write("environments/e.jsonnet", `local r = import 'rensei.libsonnet';
{
  name: '`+r.env+`',
  groups: [r.group('app', 'rensei/busybox:latest') + {
    command: ['sleep', 'infinity'],
    ports: [{ container: 80, host: `+itoa(port)+` }],
  }],
}
`)
	wantExit(t, r.rensei("apply", "--yes", r.dir), 0)
	c := mustRun(t, cli, r.container("app", "0"))
	hc := c.HostConfig
	if hc.NanoCPUs != 5e8 || hc.Memory != 256<<20 {
		t.Errorf("limits: cpus %d nano, memory %d; want the defaults 0.5 CPU and 256Mi", hc.NanoCPUs, hc.Memory)
	}
	if hc.PidsLimit == nil || *hc.PidsLimit != 512 {
		t.Errorf("pids limit %v, want 512", hc.PidsLimit)
	}
	if !strings.Contains(strings.Join(hc.SecurityOpt, ","), "no-new-privileges") {
		t.Errorf("security options %v lack no-new-privileges", hc.SecurityOpt)
	}
	if hc.LogConfig.Type != "json-file" || hc.LogConfig.Config["max-size"] != "10m" || hc.LogConfig.Config["max-file"] != "3" {
		t.Errorf("log config %+v, want json-file rotated at 10m × 3", hc.LogConfig)
	}
	for name := range c.NetworkSettings.Networks {
		if name == "bridge" || name != r.env+"_default" {
			t.Errorf("attached to network %q; want only %s_default", name, r.env)
		}
	}
	for p, bindings := range hc.PortBindings {
		for _, b := range bindings {
			if b.HostIP != "127.0.0.1" {
				t.Errorf("port %s bound to %q, want 127.0.0.1 (the host declares no publish address)", p, b.HostIP)
			}
		}
	}
	out, err := docker(t, "exec", r.container("app", "0"), "sh", "-c", "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max")
	if err != nil || strings.TrimSpace(out) != "512" {
		t.Errorf("inside the container pids.max is %q (%v), want 512", out, err)
	}
}

// TestTwoRepositoriesShareAnEngine: two config repositories that declare
// no deployment, applied to one engine, never prune each other: each is
// its own deployment by its origin (here, its directory).
func TestTwoRepositoriesShareAnEngine(t *testing.T) {
	cli := engine(t)
	a, b := newRepo(t, cli), newRepo(t, cli)
	exclusive(t, a, b)
	for _, r := range []*repo{a, b} {
		r.write("environments/e.jsonnet", `{ name: '`+r.env+`', groups: [{ name: 'g', image: 'rensei/busybox:latest', replicas: 1, command: ['sleep', 'infinity'] }] }`)
	}
	// No RENSEI_SCOPE: the repositories' own identities decide.
	wantExit(t, runRensei(t, "", "apply", "--yes", a.dir), 0)
	res := runRensei(t, "", "apply", "--yes", b.dir)
	wantExit(t, res, 0)
	if strings.Contains(res.stdout, a.container("g", "0")) {
		t.Errorf("applying the second repository plans over the first one's container:\n%s", res.stdout)
	}
	mustRun(t, cli, a.container("g", "0"))
	mustRun(t, cli, b.container("g", "0"))
	ca, _ := inspect(t, cli, a.container("g", "0"))
	cb, _ := inspect(t, cli, b.container("g", "0"))
	if sa, sb := ca.Config.Labels[labelScope], cb.Config.Labels[labelScope]; sa == "" || sb == "" || sa == sb {
		t.Errorf("deployment scopes %q and %q: want two distinct identities", sa, sb)
	}
	wantExit(t, runRensei(t, "", "plan", "--detailed-exitcode", a.dir), 0)
}

// TestNoSilentQuickstart: a directory that is not a config repository is
// an error naming it; the embedded quickstart is only used when asked for.
func TestNoSilentQuickstart(t *testing.T) {
	res := runRensei(t, "", "plan")
	wantExit(t, res, 1)
	wantContains(t, "plan in an empty directory", res.stderr, "is not a config repository", "--example quickstart")
	res = runRensei(t, "", "validate", "--example", "quickstart")
	wantExit(t, res, 0)
	wantContains(t, "validate --example quickstart", res.stdout, "embedded quickstart: valid")
}

// TestSecretsNeverLeak: a secret referenced in the configuration reaches
// the container and nowhere else (plan, labels), and rotating it replaces
// exactly the container that uses it.
func TestSecretsNeverLeak(t *testing.T) {
	cli := engine(t)
	r := newRepo(t, cli)
	exclusive(t, r)
	secrets := t.TempDir()
	const value = "s3cr3t-value-9f2c"
	if err := os.WriteFile(filepath.Join(secrets, "db-password"), []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.write("environments/e.jsonnet", `local r = import 'rensei.libsonnet';
{
  name: '`+r.env+`',
  groups: [
    r.group('app', 'rensei/busybox:latest') + { command: ['sleep', 'infinity'], env: { PASSWORD: r.secret('db-password'), TOKEN: r.derivedSecret('db-password', 'app/0') } },
    r.group('plain', 'rensei/busybox:latest') + { command: ['sleep', 'infinity'] },
  ],
}
`)
	plan := r.rensei("plan", "-o", "json", "--secrets-dir", secrets, r.dir)
	wantExit(t, plan, 0)
	if strings.Contains(plan.stdout, value) || !strings.Contains(plan.stdout, "${rensei:secret:db-password}") {
		t.Errorf("the plan holds the value, or lost the reference:\n%s", plan.stdout)
	}
	wantExit(t, r.rensei("apply", "--yes", "--secrets-dir", secrets, r.dir), 0)
	app := mustRun(t, cli, r.container("app", "0"))
	plain := mustRun(t, cli, r.container("plain", "0"))
	env := strings.Join(app.Config.Env, "\n")
	if !strings.Contains(env, "PASSWORD="+value) || strings.Contains(env, "${rensei") {
		t.Errorf("the container does not get the value:\n%s", env)
	}
	labels, _ := json.Marshal(app.Config.Labels)
	if strings.Contains(string(labels), value) {
		t.Errorf("a label holds the value: %s", labels)
	}
	if err := os.WriteFile(filepath.Join(secrets, "db-password"), []byte("rotated-value"), 0o600); err != nil {
		t.Fatal(err)
	}
	again := r.rensei("plan", "--secrets-dir", secrets, r.dir)
	wantExit(t, again, 0)
	wantContains(t, "plan after rotation", again.stdout, "± container "+r.container("app", "0")+": a secret it uses changed", "Plan: 0 to create, 1 to replace")
	if strings.Contains(again.stdout, "rotated-value") {
		t.Errorf("the plan holds the rotated value:\n%s", again.stdout)
	}
	wantExit(t, r.rensei("apply", "--yes", "--secrets-dir", secrets, r.dir), 0)
	if after := mustRun(t, cli, r.container("plain", "0")); after.ID != plain.ID {
		t.Errorf("%s was replaced by a rotation of a secret it does not use", r.container("plain", "0"))
	}
	if after := mustRun(t, cli, r.container("app", "0")); after.ID == app.ID || !strings.Contains(strings.Join(after.Config.Env, "\n"), "PASSWORD=rotated-value") {
		t.Errorf("%s was not replaced with the rotated value", r.container("app", "0"))
	}
	missing := r.rensei("plan", "--secrets-dir", t.TempDir(), r.dir)
	wantExit(t, missing, 1)
	wantContains(t, "plan without the secret", missing.stderr, "secret db-password", "secret missing", r.container("app", "0"))
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
