package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/client"
)

const (
	// readyTimeout bounds the wait for a site engine to answer.
	readyTimeout = 60 * time.Second
	// termTimeout bounds the wait after SIGTERM before SIGKILL. On SIGTERM
	// dockerd stops running containers, each with its stop timeout (10 s by
	// default); Down removes them first, so this is a backstop.
	termTimeout = 20 * time.Second
	killTimeout = 5 * time.Second
)

// siteClient returns a client of the site's engine; it does not connect.
func siteClient(s site) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.WithHost(s.dockerURL()), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("%s: docker: %w", s.name, err)
	}
	return cli, nil
}

// ping reports whether the site's engine answers within two seconds.
func ping(ctx context.Context, cli *client.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := cli.Ping(ctx)
	return err
}

// ensureDockerd makes sure the site's dockerd runs and answers. A running
// one is kept (and waited for if still starting); a dead one is started
// again on the same data root.
func ensureDockerd(ctx context.Context, s site) error {
	cli, err := siteClient(s)
	if err != nil {
		return err
	}
	defer cli.Close()
	if pids := dockerdPids(s); len(pids) > 0 && !inNetns(pids[0], s.netnsPath()) {
		// The namespace was deleted and made again under the dockerd: it
		// serves a namespace with no link, so start it afresh.
		s.log.Warn("dockerd runs in a stale namespace, restarting", "action", "restart", "name", fmt.Sprint("pid ", pids[0]))
		if err := stopDockerd(ctx, s, false, false); err != nil {
			return err
		}
	}
	if pids := dockerdPids(s); len(pids) > 0 {
		if ping(ctx, cli) == nil {
			return nil
		}
		pid := pids[0]
		s.log.Info("dockerd running, waiting for it", "action", "wait", "name", fmt.Sprint("pid ", pid))
		return waitReady(ctx, s, cli, func() bool { return !alive(pid) }, 0)
	}
	return startDockerd(ctx, s, cli)
}

// startDockerd starts the site's dockerd inside its namespace, detached (own
// session, output to the site's log file) so that it outlives the caller,
// and waits until it answers.
//
// Besides the flags of the recipe, each dockerd gets its own configuration
// file (the host's /etc/docker/daemon.json sets data-root and a storage
// driver, which would conflict), its own trust key (else every site reports
// the host engine's ID) and its own containerd namespaces. With no system
// containerd socket at /run/containerd/containerd.sock, dockerd 20.10 starts
// a containerd of its own under the exec root, so sites never share one; the
// namespaces keep them apart even where a system containerd does exist.
func startDockerd(ctx context.Context, s site, cli *client.Client) error {
	for _, dir := range []string{s.stateDir, s.execRoot(), s.dataDir} {
		if err := os.MkdirAll(dir, 0o710); err != nil {
			return fmt.Errorf("%s: dockerd: %w", s.name, err)
		}
	}
	// A dockerd that died hard leaves its containerd's shims and their
	// containers running. The new dockerd would kill those containers
	// anyway (no live-restore), after a 10 s grace each; end them now, as a
	// host reboot would, so that the restart is quick.
	if left := siteProcesses(s, false); len(left) > 0 {
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		s.log.Info("killed leftover processes", "action", "start", "name", fmt.Sprint("pids ", left))
		waitGone(ctx, left, killTimeout)
	}
	// dockerd refuses to start while its pid file names a process that
	// exists, and reuses the containerd its containerd.pid names if that
	// still exists; a zombie counts as existing to both, and on a machine
	// whose init reaps slowly, dead daemons stay zombies for a while.
	for _, pf := range []string{s.pidFile(), filepath.Join(s.execRoot(), "containerd", "containerd.pid")} {
		if pid, err := readPidFile(pf); err == nil && !alive(pid) {
			_ = os.Remove(pf)
		}
	}
	cfg := filepath.Join(s.stateDir, "daemon.json")
	body, _ := json.Marshal(map[string]any{
		"deprecated-key-path": filepath.Join(s.dataDir, "key.json"),
		// Stop quickly (StopSite, Down): containers still running after
		// this are killed with their shims anyway.
		"shutdown-timeout": 2,
	})
	if err := os.WriteFile(cfg, body, 0o644); err != nil {
		return fmt.Errorf("%s: dockerd: %w", s.name, err)
	}
	logf, err := os.OpenFile(s.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: dockerd: %w", s.name, err)
	}
	defer logf.Close()
	offset, _ := logf.Seek(0, io.SeekEnd)
	args := []string{
		"--net=" + s.netnsPath(), // nsenter, not `ip netns exec`: that remounts /sys and dockerd fails
		"dockerd",
		"--config-file", cfg,
		"--iptables=false", "--ip6tables=false", "--bridge=none",
		"-H", s.dockerURL(),
		"--data-root", s.dataDir,
		"--exec-root", s.execRoot(),
		"--pidfile", s.pidFile(),
		"--containerd-namespace", s.netns,
		"--containerd-plugins-namespace", s.netns + "-plugins",
	}
	cmd := exec.Command("nsenter", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = daemonEnv()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: dockerd: start: %w", s.name, err)
	}
	exited := make(chan struct{})
	go func() {
		// Reap it if it dies while this process lives; once this process
		// exits, dockerd is reparented and carries on.
		_ = cmd.Wait()
		close(exited)
	}()
	s.log.Info("dockerd started", "action", "start", "name", fmt.Sprint("pid ", cmd.Process.Pid))
	return waitReady(ctx, s, cli, func() bool {
		select {
		case <-exited:
			return true
		default:
			return false
		}
	}, offset)
}

// daemonEnv is this process's environment without what would redirect
// dockerd to another engine or to a service manager.
func daemonEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "NOTIFY_SOCKET", "DOCKER_HOST", "DOCKER_CONTEXT", "LISTEN_FDS", "LISTEN_PID":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// waitReady polls the engine until it answers, the process exits, ctx ends
// or readyTimeout passes; errors carry the tail of the log from logOffset.
func waitReady(ctx context.Context, s site, cli *client.Client, exited func() bool, logOffset int64) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		err := ping(ctx, cli)
		if err == nil {
			return nil
		}
		switch {
		case exited():
			return fmt.Errorf("%s: dockerd: exited before ready: %s", s.name, logTail(s.logFile(), logOffset))
		case ctx.Err() != nil:
			return fmt.Errorf("%s: dockerd: not ready: %w: %s", s.name, ctx.Err(), logTail(s.logFile(), logOffset))
		case time.Now().After(deadline):
			return fmt.Errorf("%s: dockerd: not ready after %s: %w: %s", s.name, readyTimeout, err, logTail(s.logFile(), logOffset))
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logTail returns the last lines of the log written after offset.
func logTail(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "no log: " + err.Error()
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size()-offset > 4096 {
		offset = st.Size() - 4096
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return "no log: " + err.Error()
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 12 {
		lines = lines[len(lines)-12:]
	}
	return "log " + path + ":\n" + strings.Join(lines, "\n")
}

// inNetns reports whether pid runs in the namespace mounted at path.
func inNetns(pid int, path string) bool {
	var a, b syscall.Stat_t
	if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &a) != nil || syscall.Stat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// dockerdPids returns the live dockerd processes serving the site's socket.
func dockerdPids(s site) []int {
	var pids []int
	for _, p := range processes() {
		if p.comm == "dockerd" && p.state != 'Z' && p.hasArg(s.dockerURL()) {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// stopDockerd ends the site's dockerd and then every process the lab left
// for that site: its containerd, shims and container processes and, with
// inNetns, anything else in its namespace. Graceful is SIGTERM first, then
// SIGKILL after termTimeout; otherwise everything gets SIGKILL at once, as a
// power cut would. Nothing running is not an error.
func stopDockerd(ctx context.Context, s site, graceful, inNetns bool) error {
	pids := dockerdPids(s)
	sig := syscall.SIGKILL
	if graceful {
		sig = syscall.SIGTERM
	}
	for _, pid := range pids {
		s.log.Info("stopping dockerd", "action", "stop", "name", fmt.Sprint("pid ", pid), "signal", sig.String())
		_ = syscall.Kill(pid, sig)
	}
	if left := waitGone(ctx, pids, termTimeout); len(left) > 0 {
		s.log.Warn("dockerd ignored SIGTERM, killing", "action", "stop", "name", fmt.Sprint("pids ", left))
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		waitGone(context.Background(), left, killTimeout)
	}
	leftovers := siteProcesses(s, inNetns)
	for _, pid := range leftovers {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(leftovers) > 0 {
		s.log.Info("killed leftover processes", "action", "stop", "name", fmt.Sprint("pids ", leftovers))
	}
	if left := waitGone(context.Background(), append(pids, leftovers...), killTimeout); len(left) > 0 {
		return fmt.Errorf("%s: dockerd: processes %v still alive after SIGKILL", s.name, left)
	}
	_ = os.Remove(s.pidFile())
	return nil
}

func readPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// waitGone waits until none of pids is alive, ctx ends or d passes, and
// returns those still alive.
func waitGone(ctx context.Context, pids []int, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		var left []int
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}
