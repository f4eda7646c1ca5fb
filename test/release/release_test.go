// Package release_test builds a release as `make release` does and
// checks it as a user would: the Debian package installs on this machine,
// its binary prints the version, its systemd unit verifies, the unit's
// ExecStart line runs a daemon against a real Git repository and answers
// /healthz, the container image runs, and SHA256SUMS matches. It installs
// a package and builds an image, so it runs only when RENSEI_RELEASE_TEST=1
// or CI=true, as root, and removes everything it made, also on failure.
package release_test

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/test/gittest"
)

const (
	unitPath    = "/lib/systemd/system/rensei-daemon.service"
	defaultPath = "/etc/default/rensei"
	image       = "rensei/rensei"
)

func TestRelease(t *testing.T) {
	if os.Getenv("RENSEI_RELEASE_TEST") != "1" && os.Getenv("CI") != "true" {
		t.Skip("installs a Debian package and builds an image: set RENSEI_RELEASE_TEST=1 (CI=true runs it too)")
	}
	requirements(t)
	start := time.Now()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	// A version of its own: the image tag and the package are this test's,
	// never those of a release someone built on this machine.
	version := fmt.Sprintf("v0.0.0-pre.%d", time.Now().Unix())
	dist := filepath.Join(t.TempDir(), "dist")
	t.Cleanup(func() { run(t, "docker", "image", "rm", "-f", image+":"+version) })

	build := exec.Command("make", "-C", root, "release", "DIST="+dist)
	build.Env = append(os.Environ(), "RENSEI_VERSION="+version)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	} else {
		t.Logf("make release (%s):\n%s", time.Since(start).Round(time.Second), out)
	}

	checkArtifacts(t, dist, version)
	checkImage(t, version)
	install(t, dist, version)
	checkUnit(t)
	runUnit(t)
	t.Logf("release test: %s", time.Since(start).Round(time.Second))
}

// requirements fails the test when something it needs is missing: it
// only runs when asked to, so a skip would hide a broken release.
func requirements(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("root is required (dpkg -i)")
	}
	for _, bin := range []string{"make", "git", "docker", "dpkg", "dpkg-query", "sha256sum", "ip", "setpriv"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is required: %v", bin, err)
		}
	}
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		t.Fatalf("a Docker engine is required: %v\n%s", err, out)
	}
	// Never replace what an administrator installed.
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "rensei").Output(); strings.Contains(string(out), "installed") {
		t.Fatalf("the rensei package is already installed (%s): remove it first", out)
	}
	for _, p := range []string{"/usr/bin/rensei", unitPath, defaultPath} {
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s exists and is not from a package this test installed: remove it first", p)
		}
	}
}

// checkArtifacts: every artifact is there and in SHA256SUMS, the sums
// match, and the binaries are static executables for their architecture.
func checkArtifacts(t *testing.T, dist, version string) {
	t.Helper()
	sums := readFile(t, filepath.Join(dist, "SHA256SUMS"))
	debs, _ := filepath.Glob(filepath.Join(dist, "rensei_*.deb"))
	want := []string{"rensei-linux-amd64", "rensei-linux-arm64", "rensei-image-" + version + ".tar"}
	for _, d := range debs {
		want = append(want, filepath.Base(d))
	}
	if len(debs) != 2 {
		t.Errorf("want a .deb for amd64 and arm64, got %v", debs)
	}
	for _, f := range want {
		if !regexp.MustCompile(`(?m)^[0-9a-f]{64}  ` + regexp.QuoteMeta(f) + `$`).MatchString(sums) {
			t.Errorf("SHA256SUMS has no line for %s:\n%s", f, sums)
		}
	}
	check := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	check.Dir = dist
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("sha256sum --check: %v\n%s", err, out)
	}
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		f, err := elf.Open(filepath.Join(dist, "rensei-linux-"+arch))
		if err != nil {
			t.Errorf("rensei-linux-%s: %v", arch, err)
			continue
		}
		if f.Machine != machine {
			t.Errorf("rensei-linux-%s: machine %v, want %v", arch, f.Machine, machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("rensei-linux-%s is dynamically linked (%v)", arch, p.Type)
			}
		}
		f.Close()
	}
}

// checkImage: the image is tagged with the version, built from scratch
// (one layer), and runs the binary.
func checkImage(t *testing.T, version string) {
	t.Helper()
	layers := strings.TrimSpace(run(t, "docker", "image", "inspect", "--format", "{{len .RootFS.Layers}} {{.Config.Entrypoint}}", image+":"+version))
	if layers != "1 [/usr/bin/rensei]" {
		t.Errorf("image %s:%s: layers and entrypoint %q, want one layer FROM scratch around /usr/bin/rensei", image, version, layers)
	}
	cidfile := filepath.Join(t.TempDir(), "cid")
	t.Cleanup(func() {
		if id, err := os.ReadFile(cidfile); err == nil {
			run(t, "docker", "rm", "-f", strings.TrimSpace(string(id)))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "run", "--rm", "--cidfile", cidfile, "--network", "none", image+":"+version, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "rensei "+version+" linux/amd64 ") {
		t.Errorf("docker run %s:%s version: %v\n%s", image, version, err, out)
	}
}

// install installs the package for this machine's architecture and
// purges it when the test ends.
func install(t *testing.T, dist, version string) {
	t.Helper()
	debs, _ := filepath.Glob(filepath.Join(dist, "rensei_*_"+runtime.GOARCH+".deb"))
	if len(debs) != 1 {
		t.Fatalf("no single .deb for %s in %s: %v", runtime.GOARCH, dist, debs)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", "rensei").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge rensei: %v\n%s", err, out)
		}
		for _, p := range []string{"/usr/bin/rensei", unitPath, defaultPath} {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("%s is left after dpkg --purge", p)
			}
		}
	})
	if out, err := exec.Command("dpkg", "-i", debs[0]).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -i %s: %v\n%s", debs[0], err, out)
	}
	if out := run(t, "/usr/bin/rensei", "version"); !strings.HasPrefix(out, "rensei "+version+" linux/"+runtime.GOARCH+" ") {
		t.Errorf("rensei version: %q, want version %s", out, version)
	}
	if out := run(t, "dpkg-query", "-W", "-f=${Conffiles}", "rensei"); !strings.Contains(out, defaultPath) {
		t.Errorf("%s is not a conffile: %q", defaultPath, out)
	}
	for _, p := range []string{"/usr/share/man/man1/rensei.1.gz", "/usr/share/man/man1/rensei-daemon.1.gz", "/usr/share/bash-completion/completions/rensei"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
}

// checkUnit verifies the unit with systemd-analyze when it is installed:
// directives, the ExecStart binary, the man page of Documentation=.
func checkUnit(t *testing.T) {
	t.Helper()
	unit := readFile(t, unitPath)
	for _, d := range []string{"ProtectSystem=strict", "ProtectHome=true", "PrivateTmp=true", "NoNewPrivileges=true",
		"StateDirectory=rensei", "CapabilityBoundingSet=CAP_NET_ADMIN CAP_SYS_ADMIN", "Restart=on-failure", "EnvironmentFile=" + defaultPath} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(d) + `$`).MatchString(unit) {
			t.Errorf("%s lacks %s", unitPath, d)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Logf("systemd-analyze not installed: unit not verified")
		return
	}
	args := []string{"verify"}
	if _, err := exec.LookPath("man"); err != nil {
		args = append(args, "--man=no")
	}
	// Without a running systemd, verify cannot load the default
	// dependencies (sysinit.target): only what it says of this unit counts.
	out, _ := exec.Command("systemd-analyze", append(args, unitPath)...).CombinedOutput()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.Contains(l, "Unit sysinit.target not found") && !strings.Contains(l, "Failed to create rensei-daemon.service/start") {
			t.Errorf("systemd-analyze verify %s: %s", unitPath, l)
		}
	}
}

// runUnit starts the unit's ExecStart command line, expanded as systemd
// would with its Environment= and EnvironmentFile=, against a test
// repository, checks /healthz and /metrics and that a pass reported to the
// status branch, and stops it with SIGTERM as systemd does. systemd itself
// is not used: there may be none running.
func runUnit(t *testing.T) {
	t.Helper()
	unit := readFile(t, unitPath)
	env := map[string]string{}
	for _, l := range directives(unit, "Environment") {
		for _, kv := range strings.Fields(l) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	for k, v := range envFile(t, defaultPath) {
		env[k] = v
	}

	// The host's interfaces live in a namespace of the test's own, so the
	// daemon must setns(2) into it within the unit's capabilities; its
	// engine does not exist, so the daemon can touch nothing on this
	// machine (and the scope is the test's own all the same).
	netnsName := fmt.Sprintf("rensei-release-%d", time.Now().UnixNano())
	if out, err := exec.Command("ip", "netns", "add", netnsName).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { run(t, "ip", "netns", "delete", netnsName) })
	repo := gittest.New(t)
	bare := repo.Bare()
	repo.Push("config", map[string]string{
		"sites/test.jsonnet":         "{ name: 'test', hosts: [{ name: 'h0', docker: 'unix:///nonexistent/rensei-release-test.sock', netns: '" + netnsName + "' }] }\n",
		"environments/hello.jsonnet": "{ name: 'hello', groups: [{ name: 'web', image: 'rensei/busybox:latest', replicas: 1 }] }\n",
	})
	port := freePort(t)
	env["RENSEI_REPO"] = bare
	env["RENSEI_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", port)
	env["RENSEI_ARGS"] = "--interval 1s --scope rensei-release-test --log-level info"
	execStart := directives(unit, "ExecStart")
	if len(execStart) != 1 {
		t.Fatalf("%s: want one ExecStart=, got %q", unitPath, execStart)
	}
	argv := expandExec(execStart[0], env)
	// The unit's CapabilityBoundingSet= and NoNewPrivileges=, applied as
	// systemd would at exec.
	bounding := "-all"
	for _, c := range strings.Fields(strings.Join(directives(unit, "CapabilityBoundingSet"), " ")) {
		bounding += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	argv = append([]string{"setpriv", "--bounding-set", bounding, "--no-new-privs", "--"}, argv...)
	t.Logf("ExecStart: %q", argv)

	var logs bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "STATE_DIRECTORY="+t.TempDir()) // what StateDirectory= sets
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("daemon output:\n%s", logs.String())
		}
	})

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if body, err := waitFor(done, 30*time.Second, func() (string, bool) {
		b, code := get(base + "/healthz")
		return b, code == http.StatusOK && b == "ok\n"
	}); err != nil {
		t.Fatalf("/healthz: %v (last answer %q)", err, body)
	}
	if body, code := get(base + "/metrics"); code != http.StatusOK || !strings.Contains(body, "rensei_") {
		t.Errorf("/metrics: %d, no rensei_ metrics", code)
	}
	// A pass loaded the revision and reported on the host: its engine is
	// unreachable, its namespace was entered.
	if report, err := waitFor(done, 30*time.Second, func() (string, bool) {
		out, err := exec.Command("git", "-C", bare, "show", "refs/heads/rensei/status:reports/test/h0.json").Output()
		return string(out), err == nil
	}); err != nil {
		t.Errorf("no drift report on rensei/status of %s: %v", bare, err)
	} else {
		var r struct{ Error string }
		if err := json.Unmarshal([]byte(report), &r); err != nil || !strings.Contains(r.Error, "rensei-release-test.sock") || strings.Contains(r.Error, "netns") {
			t.Errorf("report of test/h0: want the engine unreachable and the namespace entered, got %v\n%s", err, report)
		}
		t.Logf("report of test/h0: %s", r.Error)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("daemon after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("daemon still running 30 s after SIGTERM")
	}
}

// directives returns the values of key= lines of a unit file.
func directives(unit, key string) []string {
	var out []string
	for _, l := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

// envFile reads KEY=value lines as systemd's EnvironmentFile= does
// (comments and blank lines skipped, one level of quotes removed).
func envFile(t *testing.T, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(readFile(t, name)))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Errorf("%s: not KEY=value: %q", name, l)
			continue
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[strings.TrimSpace(k)] = v
	}
	return out
}

// expandExec splits an ExecStart= line as systemd does for the forms the
// unit uses: words at white space; ${X} is replaced by X's value as one
// word, $X by X's value split at white space (none when empty).
func expandExec(line string, env map[string]string) []string {
	var argv []string
	for _, w := range strings.Fields(line) {
		switch {
		case strings.HasPrefix(w, "${") && strings.HasSuffix(w, "}"):
			argv = append(argv, env[w[2:len(w)-1]])
		case strings.HasPrefix(w, "$"):
			argv = append(argv, strings.Fields(env[w[1:]])...)
		default:
			argv = append(argv, w)
		}
	}
	return argv
}

// waitFor polls ok until it holds, the process ends or the time is up.
func waitFor(done chan error, limit time.Duration, ok func() (string, bool)) (string, error) {
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		var good bool
		if last, good = ok(); good {
			return last, nil
		}
		select {
		case err := <-done:
			done <- err
			return last, fmt.Errorf("the daemon exited: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return last, fmt.Errorf("not within %s", limit)
}

func get(url string) (string, int) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// run runs a command and returns its output; failures are logged, not
// fatal (clean-up and checks that report for themselves use it).
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Logf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
