package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/test/images"
)

const testSocket = "unix:///var/run/docker.sock"

// dockerClient connects to this machine's engine: missing is a failure on
// CI and a skip elsewhere.
func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	cli, err := client.NewClientWithOpts(client.WithHost(testSocket), client.WithAPIVersionNegotiation())
	if err != nil {
		missing("docker client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		missing("docker engine at %s: %v", testSocket, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// volumeRepo writes a config repository with one host (this engine) and an
// environment env whose group "app" (one instance) mounts volume "home".
// The environment is only desired: nothing is applied.
func volumeRepo(t *testing.T, env string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"policy/deployment.jsonnet": `{ deployment: '` + env + `' }`,
		"sites/local.jsonnet": `local r = import 'rensei.libsonnet';
r.site('local', [r.host('docker', docker='` + testSocket + `')])
`,
		"environments/env.jsonnet": `local r = import 'rensei.libsonnet';
{
  name: '` + env + `',
  groups: [r.group('app', 'rensei/busybox:latest') + { volumes: [{ name: 'home', path: '/home' }] }],
}
`,
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// makeVolume creates a volume with labels and removes it when the test ends.
func makeVolume(t *testing.T, cli *client.Client, name string, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	if _, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local", Labels: labels}); err != nil {
		t.Fatalf("create volume %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := cli.VolumeRemove(context.Background(), name, true); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: remove volume %s: %v", name, err)
		}
	})
}

func owned(env, group, inst string) map[string]string {
	return map[string]string{
		drivers.LabelManaged: "true", drivers.LabelScope: env, drivers.LabelEnv: env, drivers.LabelGroup: group,
		drivers.LabelInstance: inst, drivers.LabelVolume: "home",
	}
}

func volumeExists(t *testing.T, cli *client.Client, name string) bool {
	t.Helper()
	_, err := cli.VolumeInspect(context.Background(), name)
	if err != nil && !cerrdefs.IsNotFound(err) {
		t.Fatalf("inspect volume %s: %v", name, err)
	}
	return err == nil
}

// runRensei runs the CLI in-process with stdin in and returns its output.
func runRensei(t *testing.T, in string, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(in))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func TestVolumesListAndPrune(t *testing.T) {
	cli := dockerClient(t)
	ctx := context.Background()
	if err := images.Ensure(ctx, cli, images.Busybox); err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	env := "tv" + hex.EncodeToString(suffix)
	repo := volumeRepo(t, env)

	var (
		desired = env + "_app_0_home"   // a desired container mounts it
		stale   = env + "_old_0_home"   // owned, unused: the one prune deletes
		inUse   = env + "_used_0_home"  // mounted by a (stopped, unowned) container
		foreign = env + "_stray_0_home" // Rensei's labels but not managed: never touched
	)
	makeVolume(t, cli, desired, owned(env, "app", "0"))
	makeVolume(t, cli, stale, owned(env, "old", "0"))
	makeVolume(t, cli, inUse, owned(env, "used", "0"))
	stray := owned(env, "stray", "0")
	delete(stray, drivers.LabelManaged)
	makeVolume(t, cli, foreign, stray)

	user := env + "-user"
	created, err := cli.ContainerCreate(ctx, &container.Config{Image: images.Busybox, Cmd: []string{"true"}},
		&container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: inUse, Target: "/data"}}}, nil, nil, user)
	if err != nil {
		t.Fatalf("create container %s: %v", user, err)
	}
	t.Cleanup(func() {
		if err := cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("cleanup: remove container %s: %v", user, err)
		}
	})

	t.Run("list", func(t *testing.T) {
		out, err := runRensei(t, "", "volumes", "list", repo, "--env", env, "-o", "json")
		if err != nil {
			t.Fatalf("volumes list: %v\n%s", err, out)
		}
		var scan engine.VolumeScan
		if err := json.Unmarshal([]byte(out), &scan); err != nil {
			t.Fatalf("decode: %v\n%s", err, out)
		}
		got := map[string]engine.VolumeRow{}
		for _, v := range scan.Volumes {
			got[v.Name] = v
		}
		if len(got) != 3 {
			t.Errorf("listed %d volumes, want 3 (desired, stale, in use):\n%s", len(got), out)
		}
		if _, ok := got[foreign]; ok {
			t.Errorf("unowned volume %s was listed", foreign)
		}
		if v := got[desired]; len(v.DesiredBy) != 1 || v.DesiredBy[0] != env+"_app_0" || v.EnvState != "active" || v.Group != "app" || v.Instance != "0" {
			t.Errorf("desired volume: %+v", v)
		}
		if v := got[stale]; len(v.DesiredBy) != 0 || len(v.MountedBy) != 0 || !v.MountsKnown || v.Created.IsZero() {
			t.Errorf("stale volume: %+v", v)
		}
		if v := got[inUse]; len(v.MountedBy) != 1 || v.MountedBy[0] != user {
			t.Errorf("volume in use: %+v", v)
		}

		text, err := runRensei(t, "", "volumes", "list", repo, "--env", env)
		if err != nil {
			t.Fatalf("volumes list: %v\n%s", err, text)
		}
		for _, want := range []string{"HOST", desired, stale, inUse, user} {
			if !strings.Contains(text, want) {
				t.Errorf("text output lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, foreign) {
			t.Errorf("text output lists unowned volume %s:\n%s", foreign, text)
		}
	})

	t.Run("prune refuses without a terminal or --yes", func(t *testing.T) {
		out, err := runRensei(t, "yes\n", "volumes", "prune", repo, "--env", env, "--older-than", "0s", "--force")
		if err == nil || !strings.Contains(err.Error(), "not a terminal") {
			t.Fatalf("prune without --yes: err %v, want a refusal\n%s", err, out)
		}
		if !strings.Contains(out, "delete local/docker "+stale) {
			t.Errorf("prune did not show what it would delete:\n%s", out)
		}
		for _, name := range []string{desired, stale, inUse, foreign} {
			if !volumeExists(t, cli, name) {
				t.Errorf("volume %s was deleted by a refused prune", name)
			}
		}
	})

	t.Run("prune respects --older-than", func(t *testing.T) {
		out, err := runRensei(t, "", "volumes", "prune", repo, "--env", env, "--older-than", "1h", "--yes", "--force")
		if err != nil {
			t.Fatalf("prune: %v\n%s", err, out)
		}
		if !strings.Contains(out, "Nothing to delete.") || !strings.Contains(out, "less than 1h0m0s ago") {
			t.Errorf("prune --older-than 1h: want nothing deleted, young volumes kept:\n%s", out)
		}
		if !volumeExists(t, cli, stale) {
			t.Errorf("volume %s, younger than 1h, was deleted", stale)
		}
	})

	t.Run("prune keeps an active environment's data without --force", func(t *testing.T) {
		out, err := runRensei(t, "", "volumes", "prune", repo, "--env", env, "--older-than", "0s", "--yes")
		if err != nil {
			t.Fatalf("prune: %v\n%s", err, out)
		}
		if !strings.Contains(out, "Nothing to delete.") || !strings.Contains(out, "environment is active: its data is kept until the environment ends (--force deletes it anyway)") {
			t.Errorf("prune of an active environment without --force:\n%s", out)
		}
		if !volumeExists(t, cli, stale) {
			t.Errorf("volume %s of an active environment was deleted without --force", stale)
		}
	})

	t.Run("prune --force deletes only the unused owned volume", func(t *testing.T) {
		out, err := runRensei(t, "", "volumes", "prune", repo, "--env", env, "--older-than", "0s", "--yes", "--force")
		if err != nil {
			t.Fatalf("prune: %v\n%s", err, out)
		}
		if !strings.Contains(out, "Deleted 1 volume(s), 0 failed.") {
			t.Errorf("prune output:\n%s", out)
		}
		if !strings.Contains(out, "mounted by "+user) || !strings.Contains(out, "a desired container mounts it") {
			t.Errorf("prune did not say why it kept volumes:\n%s", out)
		}
		want := map[string]bool{desired: true, stale: false, inUse: true, foreign: true}
		for name, exists := range want {
			if got := volumeExists(t, cli, name); got != exists {
				t.Errorf("volume %s exists: %v, want %v", name, got, exists)
			}
		}
	})

	t.Run("prune needs --env and --older-than", func(t *testing.T) {
		if _, err := runRensei(t, "", "volumes", "prune", repo, "--older-than", "0s", "--yes"); err == nil || !strings.Contains(err.Error(), "--env") {
			t.Errorf("prune without --env: %v", err)
		}
		if _, err := runRensei(t, "", "volumes", "prune", repo, "--env", env, "--yes"); err == nil || !strings.Contains(err.Error(), "--older-than") {
			t.Errorf("prune without --older-than: %v", err)
		}
	})
}

func TestParseAge(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"720h", 720 * time.Hour, true},
		{"30d", 30 * 24 * time.Hour, true},
		{"0s", 0, true},
		{"-1h", 0, false},
		{"xd", 0, false},
		{"soon", 0, false},
	} {
		got, err := parseAge(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseAge(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
