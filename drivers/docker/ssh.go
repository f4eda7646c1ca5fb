package docker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// sshArgs turns ssh://[user@]host[:port] into the arguments of the ssh
// command that connects to the remote engine's API on stdin/stdout.
func sshArgs(u *url.URL) ([]string, error) {
	if u.Hostname() == "" {
		return nil, errors.New("ssh endpoint needs a host")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("ssh endpoint takes no path")
	}
	// BatchMode: never prompt, a daemon has no terminal. ConnectTimeout: an
	// unreachable host fails like a refused connection instead of hanging.
	args := []string{"-o", "BatchMode=yes", "-o", "ConnectTimeout=10"}
	if u.User != nil && u.User.Username() != "" {
		args = append(args, "-l", u.User.Username())
	}
	if p := u.Port(); p != "" {
		args = append(args, "-p", p)
	}
	return append(args, "--", u.Hostname(), "docker", "system", "dial-stdio"), nil
}

// sshError is a failure to start or talk through the ssh process; it means
// the engine is unreachable. reason is what ssh said on its standard
// error, if anything.
type sshError struct {
	err    error
	reason string
}

func (e *sshError) Error() string {
	if e.reason != "" {
		return "ssh: " + e.err.Error() + ": " + e.reason
	}
	return "ssh: " + e.err.Error()
}

func (e *sshError) Unwrap() error { return e.err }

// cause is why, in ssh's words when it gave any: its last line of
// output ("ssh: connect to host h port 22: Connection refused").
func (e *sshError) cause() string {
	lines := strings.Split(strings.TrimSpace(e.reason), "\n")
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
		return last
	}
	return "ssh: " + e.err.Error()
}

// sshDialer returns a DialContext that starts one ssh process per
// connection. The process is not tied to ctx: the HTTP transport keeps
// connections alive beyond the request that dialed them.
func sshDialer(args []string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cmd := exec.Command("ssh", args...)
		c := &cmdConn{cmd: cmd, exited: make(chan struct{})}
		cmd.Stderr = &c.stderr
		var err error
		if c.stdin, err = cmd.StdinPipe(); err != nil {
			return nil, &sshError{err: err}
		}
		if c.stdout, err = cmd.StdoutPipe(); err != nil {
			return nil, &sshError{err: err}
		}
		if err := cmd.Start(); err != nil {
			return nil, &sshError{err: err}
		}
		return c, nil
	}
}

// cmdConn is a net.Conn over the stdin and stdout of a command.
// Deadlines are not supported; the HTTP client relies on contexts instead.
type cmdConn struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr lockedBuffer
	once   sync.Once
	exited chan struct{} // closed when Wait has returned
	wait   sync.Once
}

// exitWait bounds how long a read that hit the end of ssh's output waits
// for the process to exit, so that its stderr (the reason) is complete.
const exitWait = 2 * time.Second

// reap waits for the process once; Wait also finishes copying stderr.
func (c *cmdConn) reap() {
	c.wait.Do(func() {
		go func() {
			_ = c.cmd.Wait()
			close(c.exited)
		}()
	})
}

func (c *cmdConn) Read(p []byte) (int, error) {
	n, err := c.stdout.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, c.wrap(err)
	}
	if errors.Is(err, io.EOF) && n == 0 {
		c.awaitExit()
		if msg := c.stderr.String(); msg != "" {
			return 0, &sshError{err: io.ErrUnexpectedEOF, reason: msg}
		}
	}
	return n, err
}

// Write fails when ssh exited (a broken pipe): its reason is on stderr,
// complete once it exited.
func (c *cmdConn) Write(p []byte) (int, error) {
	n, err := c.stdin.Write(p)
	if err != nil {
		c.awaitExit()
		return n, c.wrap(err)
	}
	return n, nil
}

// awaitExit waits, at most exitWait, for the process to exit.
func (c *cmdConn) awaitExit() {
	c.reap()
	select {
	case <-c.exited:
	case <-time.After(exitWait):
	}
}

// Close ends the ssh process; it is safe to call more than once.
func (c *cmdConn) Close() error {
	c.once.Do(func() {
		_ = c.stdin.Close()
		_ = c.cmd.Process.Kill()
		c.reap()
		<-c.exited
	})
	return nil
}

func (c *cmdConn) wrap(err error) error {
	if msg := c.stderr.String(); msg != "" {
		return &sshError{err: err, reason: msg}
	}
	return &sshError{err: err}
}

func (c *cmdConn) LocalAddr() net.Addr                { return cmdAddr{} }
func (c *cmdConn) RemoteAddr() net.Addr               { return cmdAddr{} }
func (c *cmdConn) SetDeadline(t time.Time) error      { return nil }
func (c *cmdConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *cmdConn) SetWriteDeadline(t time.Time) error { return nil }

type cmdAddr struct{}

func (cmdAddr) Network() string { return "ssh" }
func (cmdAddr) String() string  { return "ssh" }

// lockedBuffer keeps the last few KiB of the command's stderr for errors;
// exec writes it from its own goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const stderrKeep = 4 << 10

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.buf.Len() > stderrKeep {
		b.buf.Next(b.buf.Len() - stderrKeep)
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}
