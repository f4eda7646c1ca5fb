// Package cli_test drives the rensei binary end to end against the
// machine's real Docker engine: each test writes its own config repository
// (a site for this engine, environments of its own), runs validate, eval,
// plan and apply as a user would, and checks the result from outside with
// the docker command-line tool and the Docker client.
//
// Every test deploys in a scope of its own (RENSEI_SCOPE), as deployments
// sharing an engine must: a pass prunes every managed object of its scope
// that its repository does not define. The tests that apply also hold a
// machine-wide lock, so that what each sees of the engine is its own doing.
package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/test/images"
)

// planJSON is what `rensei plan -o json` prints.
type planJSON struct {
	Commit string `json:"commit"`
	Steps  []struct {
		Host   string `json:"host"`
		Kind   string `json:"kind"`
		Name   string `json:"name"`
		Action string `json:"action"`
		Reason string `json:"reason"`
		Env    string `json:"env"`
	} `json:"steps"`
	Unreachable []struct {
		Host  string `json:"host"`
		Error string `json:"error"`
	} `json:"unreachable"`
}

// parsePlan decodes plan -o json output.
func parsePlan(t *testing.T, out string) planJSON {
	t.Helper()
	var p planJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("plan -o json is not JSON: %v\n%s", err, out)
	}
	return p
}

// stepsOf renders the plan's steps of env as "action kind name", sorted.
func (p planJSON) stepsOf(env string) []string {
	var out []string
	for _, s := range p.Steps {
		if s.Env == env || strings.HasPrefix(s.Name, env+"_") {
			out = append(out, s.Action+" "+s.Kind+" "+s.Name)
		}
	}
	slices.Sort(out)
	return out
}

// planLine returns the line of text plan output about the object name.
func planLine(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, " "+name+":") {
			return l
		}
	}
	return ""
}

// converged runs plan --detailed-exitcode and fails unless it finds nothing to do.
func converged(t *testing.T, r *repo) {
	t.Helper()
	res := r.rensei("plan", "--detailed-exitcode", r.dir)
	wantExit(t, res, 0)
	wantContains(t, "plan output", res.stdout, "No changes")
}

// apply runs apply --yes and fails unless it converged.
func apply(t *testing.T, r *repo) result {
	t.Helper()
	res := r.rensei("apply", "--yes", r.dir)
	wantExit(t, res, 0)
	wantContains(t, "apply output", res.stdout, "Converged")
	return res
}

// envMap turns a container's KEY=value list into a map.
func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// wget fetches url from inside the container, retrying briefly while the
// server comes up.
func wget(t *testing.T, from, url string) string {
	t.Helper()
	var out string
	var err error
	for range 20 {
		// busybox 1.35's wget -T crashes (SIGSEGV); bound it with timeout instead.
		out, err = docker(t, "exec", from, "timeout", "5", "wget", "-q", "-O", "-", url)
		if err == nil {
			return out
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("wget %s from %s: %v\n%s", url, from, err, out)
	return ""
}

// TestApplyQuickstartLike applies a quickstart-like environment and checks
// every container from outside: running, labelled, its environment, the
// rendered file served over the network, the static address, the volume;
// then a plan finds nothing to do.
func TestApplyQuickstartLike(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	r := newRepo(t, cli)
	exclusive(t, r)
	h := hello{Name: r.env, Subnet: freeSubnet(t, cli)}
	r.writeHello(h)

	apply(t, r)

	want := []struct{ group, instance string }{{"web", "0"}, {"web", "1"}, {"shell", "0"}}
	for _, w := range want {
		name := r.container(w.group, w.instance)
		c := mustRun(t, cli, name)
		l := c.Config.Labels
		for k, v := range map[string]string{labelManaged: "true", labelEnv: r.env, labelGroup: w.group, labelInstance: w.instance, labelScope: r.scope} {
			if l[k] != v {
				t.Errorf("%s: label %s = %q, want %q", name, k, l[k], v)
			}
		}
		if l[labelSpecHash] == "" {
			t.Errorf("%s: no %s label", name, labelSpecHash)
		}
		env := envMap(c.Config.Env)
		for k, v := range map[string]string{"RENSEI_ENV": r.env, "RENSEI_GROUP": w.group, "RENSEI_INSTANCE": w.instance,
			"RENSEI_SITE": "local", "RENSEI_HOST": "docker"} {
			if env[k] != v {
				t.Errorf("%s: env %s = %q, want %q", name, k, env[k], v)
			}
		}
		if c.Config.Hostname != w.group+"-"+w.instance {
			t.Errorf("%s: hostname %q, want %q", name, c.Config.Hostname, w.group+"-"+w.instance)
		}
		if c.Config.Image != images.Busybox {
			t.Errorf("%s: image %q, want %q", name, c.Config.Image, images.Busybox)
		}
	}

	shell := r.container("shell", "0")
	sc, _ := inspect(t, cli, shell)
	if got := envMap(sc.Config.Env)["GREETING"]; got != "hello" {
		t.Errorf("%s: GREETING = %q, want hello", shell, got)
	}
	lan := r.env + "_lan"
	ep := sc.NetworkSettings.Networks[lan]
	if ep == nil {
		t.Fatalf("%s is not on network %s: %v", shell, lan, sc.NetworkSettings.Networks)
	}
	if ep.IPAddress != h.static() {
		t.Errorf("%s: address %s on %s, want the static %s", shell, ep.IPAddress, lan, h.static())
	}
	vol := r.env + "_shell_0_data"
	if !slices.ContainsFunc(sc.Mounts, func(m container.MountPoint) bool { return m.Name == vol && m.Destination == "/data" }) {
		t.Errorf("%s: volume %s is not mounted at /data: %+v", shell, vol, sc.Mounts)
	}
	v, err := cli.VolumeInspect(context.Background(), vol)
	if err != nil {
		t.Fatalf("volume %s: %v", vol, err)
	}
	if v.Labels[labelManaged] != "true" || v.Labels[labelEnv] != r.env {
		t.Errorf("volume %s: labels %v", vol, v.Labels)
	}
	n, err := cli.NetworkInspect(context.Background(), lan, network.InspectOptions{})
	if err != nil {
		t.Fatalf("network %s: %v", lan, err)
	}
	if n.Labels[labelManaged] != "true" || n.Labels[labelEnv] != r.env {
		t.Errorf("network %s: labels %v", lan, n.Labels)
	}
	if len(n.IPAM.Config) != 1 || n.IPAM.Config[0].Subnet != h.Subnet.String() {
		t.Errorf("network %s: IPAM %+v, want subnet %s", lan, n.IPAM.Config, h.Subnet)
	}

	// The file Jsonnet rendered, in the container and over the network.
	for _, i := range []string{"0", "1"} {
		web := r.container("web", i)
		if got := mustDocker(t, "exec", web, "cat", "/var/www/index.html"); got != h.page() {
			t.Errorf("%s: /var/www/index.html = %q, want %q", web, got, h.page())
		}
		if got := wget(t, shell, "http://web-"+i+"/"); got != h.page() {
			t.Errorf("wget http://web-%s/ from %s = %q, want %q", i, shell, got, h.page())
		}
	}
	if got := wget(t, shell, "http://web/"); got != h.page() {
		t.Errorf("wget http://web/ (the group alias) = %q, want %q", got, h.page())
	}
	if got := mustDocker(t, "exec", r.container("web", "0"), "sh", "-c", "ping -c 1 -W 2 "+h.static()+" >/dev/null && echo ok"); strings.TrimSpace(got) != "ok" {
		t.Errorf("web-0 cannot reach the shell's static address %s: %q", h.static(), got)
	}

	converged(t, r)
}

// TestImageChangeReplaces changes the web group's image to a second tag of
// the same image: the plan says so in words, apply replaces exactly those
// containers.
func TestImageChangeReplaces(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	r := newRepo(t, cli)
	exclusive(t, r)
	tag := "rensei/busybox:" + r.env
	tagImage(t, cli, tag)
	h := hello{Name: r.env, Subnet: freeSubnet(t, cli)}
	r.writeHello(h)
	apply(t, r)

	ids := map[string]string{}
	for _, n := range []string{r.container("web", "0"), r.container("web", "1"), r.container("shell", "0")} {
		ids[n] = mustRun(t, cli, n).ID
	}

	h.WebImage = tag
	r.writeHello(h)
	res := r.rensei("plan", "--detailed-exitcode", r.dir)
	wantExit(t, res, 2)
	reason := "image changed: " + images.Busybox + " → " + tag
	for _, i := range []string{"0", "1"} {
		line := planLine(res.stdout, r.container("web", i))
		if !strings.Contains(line, reason) {
			t.Errorf("plan line for %s is %q, want the reason %q", r.container("web", i), line, reason)
		}
	}
	if line := planLine(res.stdout, r.container("shell", "0")); line != "" {
		t.Errorf("plan touches the shell, whose spec did not change: %q", line)
	}

	apply(t, r)
	for _, i := range []string{"0", "1"} {
		name := r.container("web", i)
		c := mustRun(t, cli, name)
		if c.ID == ids[name] {
			t.Errorf("%s: same container %s after an image change, want a new one", name, c.ID[:12])
		}
		if c.Config.Image != tag {
			t.Errorf("%s: image %q, want %q", name, c.Config.Image, tag)
		}
	}
	if c := mustRun(t, cli, r.container("shell", "0")); c.ID != ids[c.Name[1:]] {
		t.Errorf("shell was replaced (%s → %s) though its spec did not change", ids[c.Name[1:]][:12], c.ID[:12])
	}
	converged(t, r)
}

// TestRemoveGroupKeepsVolumes removes a group: its containers go, its
// volumes and their data stay, the other group is untouched.
func TestRemoveGroupKeepsVolumes(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	r := newRepo(t, cli)
	exclusive(t, r)
	h := hello{Name: r.env, Subnet: freeSubnet(t, cli)}
	r.writeHello(h)
	apply(t, r)
	shell := r.container("shell", "0")
	mustDocker(t, "exec", shell, "sh", "-c", "echo kept > /data/proof")
	web0 := mustRun(t, cli, r.container("web", "0")).ID

	h.NoShell = true
	r.writeHello(h)
	res := r.rensei("plan", "--detailed-exitcode", r.dir)
	wantExit(t, res, 2)
	vol := r.env + "_shell_0_data"
	if line := planLine(res.stdout, shell); !strings.Contains(line, "- container") {
		t.Errorf("plan line for %s is %q, want a delete", shell, line)
	}
	if line := planLine(res.stdout, vol); !strings.Contains(line, "kept") || strings.Contains(line, "- volume") {
		t.Errorf("plan line for %s is %q, want it kept", vol, line)
	}

	apply(t, r)
	if _, ok := inspect(t, cli, shell); ok {
		t.Errorf("%s still exists after its group was removed", shell)
	}
	if out, err := docker(t, "volume", "inspect", vol); err != nil {
		t.Fatalf("volume %s was removed with its group: %v\n%s", vol, err, out)
	}
	got := mustDocker(t, "run", "--rm", "-v", vol+":/data:ro", images.Busybox, "cat", "/data/proof")
	if strings.TrimSpace(got) != "kept" {
		t.Errorf("volume %s lost its data: /data/proof = %q", vol, got)
	}
	if c := mustRun(t, cli, r.container("web", "0")); c.ID != web0 {
		t.Errorf("web-0 was replaced though its group did not change")
	}
	converged(t, r)
}

// TestForeignContainerNotOwned puts unlabelled containers where Rensei
// would create its own, and beside them: apply leaves them alone, reports
// the conflict, and applies every other step.
func TestForeignContainerNotOwned(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	r := newRepo(t, cli)
	exclusive(t, r)
	squatter := r.container("web", "0")
	bystander := r.env + "-bystander"
	squatterID := foreignContainer(t, cli, squatter, nil, true)
	bystanderID := foreignContainer(t, cli, bystander, nil, true)
	r.writeHello(hello{Name: r.env, Subnet: freeSubnet(t, cli)})

	res := r.rensei("apply", "--yes", r.dir)
	wantExit(t, res, 1)
	wantContains(t, "apply output", res.out(), "not owned", squatter)
	wantContains(t, "apply error", res.stderr, "1 step(s) failed")

	for name, id := range map[string]string{squatter: squatterID, bystander: bystanderID} {
		c := mustRun(t, cli, name)
		if c.ID != id {
			t.Errorf("%s: container %s replaced by %s", name, id[:12], c.ID[:12])
		}
		for _, k := range []string{labelManaged, labelEnv, labelGroup, labelInstance, labelSpecHash, labelScope, "io.rensei.spec-fields", "io.rensei.commit"} {
			if v, ok := c.Config.Labels[k]; ok {
				t.Errorf("%s: label %s=%s added to a container Rensei does not own", name, k, v)
			}
		}
		if len(c.NetworkSettings.Networks) != 1 || c.NetworkSettings.Networks["bridge"] == nil {
			t.Errorf("%s: networks changed: %v", name, c.NetworkSettings.Networks)
		}
	}
	for _, name := range []string{r.container("web", "1"), r.container("shell", "0")} {
		if c := mustRun(t, cli, name); c.Config.Labels[labelManaged] != "true" {
			t.Errorf("%s: not labelled managed", name)
		}
	}

	// The plan keeps asking for the one container it cannot make, and for nothing else.
	res = r.rensei("plan", "-o", "json", r.dir)
	wantExit(t, res, 0)
	if got, want := parsePlan(t, res.stdout).stepsOf(r.env), []string{"create container " + squatter}; !slices.Equal(got, want) {
		t.Errorf("plan after the failed step: %v, want %v", got, want)
	}
}

// TestRemovedContainerRestored removes a managed container by hand: the
// plan names it, the next apply brings it back.
func TestRemovedContainerRestored(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	r := newRepo(t, cli)
	exclusive(t, r)
	h := hello{Name: r.env, Subnet: freeSubnet(t, cli)}
	r.writeHello(h)
	apply(t, r)
	victim := r.container("web", "1")
	old := mustRun(t, cli, victim).ID
	mustDocker(t, "rm", "-f", victim)

	res := r.rensei("plan", "--detailed-exitcode", r.dir)
	wantExit(t, res, 2)
	if line := planLine(res.stdout, victim); !strings.Contains(line, "+ container") || !strings.Contains(line, "absent") {
		t.Errorf("plan line for %s is %q, want a create because it is absent", victim, line)
	}
	res = r.rensei("plan", "-o", "json", r.dir)
	if got, want := parsePlan(t, res.stdout).stepsOf(r.env), []string{"create container " + victim}; !slices.Equal(got, want) {
		t.Errorf("plan: %v, want %v", got, want)
	}

	apply(t, r)
	if c := mustRun(t, cli, victim); c.ID == old {
		t.Errorf("%s: same ID as the removed container", victim)
	}
	if got := wget(t, r.container("shell", "0"), "http://web-1/"); got != h.page() {
		t.Errorf("restored web-1 serves %q, want %q", got, h.page())
	}
	converged(t, r)
}

// TestOutputs checks the machine-readable outputs: plan -o json, eval and
// validate, for an environment not applied yet.
func TestOutputs(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	r := newRepo(t, cli)
	h := hello{Name: r.env, Subnet: freeSubnet(t, cli)}
	r.writeHello(h)
	names := []string{r.container("shell", "0"), r.container("web", "0"), r.container("web", "1")}

	res := r.rensei("plan", "-o", "json", r.dir)
	wantExit(t, res, 0)
	p := parsePlan(t, res.stdout)
	want := []string{
		"create container " + names[0], "create container " + names[1], "create container " + names[2],
		"create network " + r.env + "_lan", "create volume " + r.env + "_shell_0_data",
	}
	if got := p.stepsOf(r.env); !slices.Equal(got, want) {
		t.Errorf("plan -o json steps of %s:\n got %v\nwant %v", r.env, got, want)
	}
	for _, s := range p.Steps {
		if s.Env == r.env && (s.Host != "local/docker" || s.Reason == "") {
			t.Errorf("step %+v: want host local/docker and a reason", s)
		}
	}

	res = r.rensei("eval", r.dir)
	wantExit(t, res, 0)
	var ev struct {
		Sites []struct {
			Name string `json:"name"`
		} `json:"sites"`
		Environments []struct {
			Name string `json:"name"`
		} `json:"environments"`
		Hosts []struct {
			Key        string `json:"key"`
			Containers []struct {
				Name string `json:"name"`
			} `json:"containers"`
			Networks []struct {
				Name   string `json:"name"`
				Subnet string `json:"subnet"`
			} `json:"networks"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &ev); err != nil {
		t.Fatalf("eval output is not JSON: %v", err)
	}
	if len(ev.Hosts) != 1 || ev.Hosts[0].Key != "local/docker" {
		t.Fatalf("eval hosts: %+v, want one, local/docker", ev.Hosts)
	}
	var got []string
	for _, c := range ev.Hosts[0].Containers {
		got = append(got, c.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, names) {
		t.Errorf("eval: containers on local/docker %v, want %v", got, names)
	}
	if len(ev.Hosts[0].Networks) != 1 || ev.Hosts[0].Networks[0].Subnet != h.Subnet.String() {
		t.Errorf("eval: networks %+v, want %s_lan with subnet %s", ev.Hosts[0].Networks, r.env, h.Subnet)
	}
	if len(ev.Sites) != 1 || ev.Sites[0].Name != "local" || len(ev.Environments) != 1 || ev.Environments[0].Name != r.env {
		t.Errorf("eval: sites %+v, environments %+v", ev.Sites, ev.Environments)
	}

	res = r.rensei("validate", r.dir)
	wantExit(t, res, 0)
	wantContains(t, "validate output", res.stdout, r.dir+": valid: 1 sites, 1 hosts, 1 environments, 3 containers placed")

	res = r.rensei("validate", "-o", "json", r.dir)
	wantExit(t, res, 0)
	var v struct {
		Valid    bool  `json:"valid"`
		Problems []any `json:"problems"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &v); err != nil || !v.Valid || v.Problems == nil || len(v.Problems) != 0 {
		t.Errorf("validate -o json: %+v (%v), want valid with an empty problem list", v, err)
	}
	if objs := envObjects(t, cli, r.env); len(objs) > 0 {
		t.Errorf("plan, eval or validate changed the engine: %v", objs)
	}
}

// snapshot is every container, network and volume on the engine that is
// not a managed object of scope (unmanaged, or of another deployment),
// keyed by kind and ID (name for volumes), with what apply must not change
// about it.
func snapshot(t *testing.T, cli *client.Client, scope string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if ours(c.Labels, scope) {
			continue
		}
		var nets []string
		if c.NetworkSettings != nil {
			for n, ep := range c.NetworkSettings.Networks {
				nets = append(nets, n+"="+ep.IPAddress)
			}
		}
		slices.Sort(nets)
		out["container "+c.ID] = fmt.Sprintf("%s image=%s state=%s labels=%v networks=%v", c.Names, c.Image, c.State, c.Labels, nets)
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if ours(n.Labels, scope) {
			continue
		}
		out["network "+n.ID] = fmt.Sprintf("%s driver=%s ipam=%v labels=%v options=%v", n.Name, n.Driver, n.IPAM.Config, n.Labels, n.Options)
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs.Volumes {
		if ours(v.Labels, scope) {
			continue
		}
		out["volume "+v.Name] = fmt.Sprintf("%s driver=%s labels=%v mountpoint=%s", v.Name, v.Driver, v.Labels, v.Mountpoint)
	}
	return out
}

// ours reports whether labels mark a managed object of scope.
func ours(labels map[string]string, scope string) bool {
	return labels[labelManaged] == "true" && labels[labelScope] == scope
}

// sameSnapshot fails the test when an object of before changed or went,
// or when an unowned object named like the environment's appeared. Other
// new objects are logged: another process may make them meanwhile.
func sameSnapshot(t *testing.T, when string, before, after map[string]string, env string) {
	t.Helper()
	for k, v := range before {
		switch w, ok := after[k]; {
		case !ok:
			t.Errorf("%s: %s (%s) is gone", when, k, v)
		case w != v:
			t.Errorf("%s: %s changed:\n was %s\n now %s", when, k, v, w)
		}
	}
	for k, v := range after {
		if _, ok := before[k]; ok {
			continue
		}
		if strings.Contains(v, env) {
			t.Errorf("%s: an unowned object appeared: %s (%s)", when, k, v)
		} else {
			t.Logf("%s: new object not made by this test (another process?): %s (%s)", when, k, v)
		}
	}
}

// TestUnownedObjectsUntouched surrounds an environment with objects Rensei
// does not own, some named and labelled like its own, and managed objects
// of other deployments (scopes), and checks that no apply (create, delete,
// removing the whole environment) changes any of them, nor anything else
// on the engine that is not the test's own: the quickstart, other users'.
func TestUnownedObjectsUntouched(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	r := newRepo(t, cli)
	exclusive(t, r)
	ctx := context.Background()

	foreignContainer(t, cli, r.env+"-bystander", nil, true)
	foreignContainer(t, cli, r.env+"-stopped", nil, false)
	// Named and labelled like an instance of the environment, but without
	// io.rensei.managed=true: not Rensei's, so not stale either.
	foreignContainer(t, cli, r.container("web", "9"), map[string]string{labelEnv: r.env, labelGroup: "web", labelInstance: "9"}, true)
	foreignContainer(t, cli, r.container("web", "8"), map[string]string{labelManaged: "false", labelEnv: r.env, labelGroup: "web", labelInstance: "8"}, true)
	// Managed, but by another deployment on this engine: the default scope
	// (no scope label) and a named one.
	foreignContainer(t, cli, r.container("web", "7"), map[string]string{labelManaged: "true", labelEnv: r.env, labelGroup: "web", labelInstance: "7"}, true)
	foreignContainer(t, cli, r.container("web", "6"), map[string]string{labelManaged: "true", labelScope: "elsewhere", labelEnv: r.env, labelGroup: "web", labelInstance: "6"}, true)
	netName := r.env + "-foreign"
	foreignNet := freeSubnet(t, cli)
	nresp, err := cli.NetworkCreate(ctx, netName, network.CreateOptions{Driver: "bridge",
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: foreignNet.String()}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.NetworkRemove(context.Background(), nresp.ID) })
	if _, err := cli.NetworkCreate(ctx, r.env+"_old", network.CreateOptions{Driver: "bridge", Labels: map[string]string{labelEnv: r.env}}); err != nil {
		t.Fatal(err)
	}
	for name, labels := range map[string]map[string]string{
		r.env + "_shell_0_scratch": nil,
		r.env + "_web_9_data":      {labelEnv: r.env, labelGroup: "web", labelInstance: "9"},
	} {
		if _, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: labels}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.VolumeRemove(context.Background(), name, true) })
	}

	h := hello{Name: r.env, Subnet: freeSubnet(t, cli), Replicas: 2}
	r.writeHello(h)
	before := snapshot(t, cli, r.scope)
	apply(t, r)
	sameSnapshot(t, "after the first apply", before, snapshot(t, cli, r.scope), r.env)

	// Deletes: one replica fewer, the shell group gone.
	h.Replicas, h.NoShell = 1, true
	r.writeHello(h)
	apply(t, r)
	sameSnapshot(t, "after an apply that deletes", before, snapshot(t, cli, r.scope), r.env)

	// Removing the environment file removes the environment, and only it.
	r.remove("environments/" + r.env + ".jsonnet")
	apply(t, r)
	sameSnapshot(t, "after removing the environment", before, snapshot(t, cli, r.scope), r.env)
	if _, ok := inspect(t, cli, r.container("web", "0")); ok {
		t.Errorf("%s still exists after its environment was removed", r.container("web", "0"))
	}
}

// TestApplyLeavesOtherRepositoriesAlone applies two config repositories,
// each defining an environment of its own in its own deployment scope, to
// one engine, as two users of a shared machine would: the second apply
// must leave the first repository's environment running.
func TestApplyLeavesOtherRepositoriesAlone(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	a, b := newRepo(t, cli), newRepo(t, cli)
	exclusive(t, a, b)
	a.writeHello(hello{Name: a.env, Subnet: freeSubnet(t, cli), Replicas: 1, NoShell: true})
	b.writeHello(hello{Name: b.env, Subnet: freeSubnet(t, cli), Replicas: 1, NoShell: true})
	apply(t, a)
	first := mustRun(t, cli, a.container("web", "0")).ID

	res := b.rensei("plan", "-o", "json", b.dir)
	wantExit(t, res, 0)
	if got := parsePlan(t, res.stdout).stepsOf(a.env); len(got) > 0 {
		t.Errorf("repository B plans changes to repository A's environment %s: %v", a.env, got)
	}
	apply(t, b)
	if c, ok := inspect(t, cli, a.container("web", "0")); !ok || !c.State.Running || c.ID != first {
		t.Errorf("applying repository B removed or replaced %s of repository A", a.container("web", "0"))
	}
	if _, err := cli.NetworkInspect(context.Background(), a.env+"_lan", network.InspectOptions{}); err != nil {
		t.Errorf("applying repository B removed network %s_lan of repository A: %v", a.env, err)
	}
}
