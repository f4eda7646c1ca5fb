package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pty is a pseudo-terminal: the test holds the master side, the binary
// runs on the slave as on a real terminal.
type pty struct {
	master, slave *os.File
	mu            sync.Mutex
	out           bytes.Buffer
	read          chan struct{} // closed when the master reached its end
}

// openPTY opens a terminal of 24 rows and 100 columns, closed when the
// test ends.
func openPTY(t *testing.T) *pty {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		t.Fatalf("pty number: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatalf("open pty: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 100}); err != nil {
		t.Fatalf("pty size: %v", err)
	}
	p := &pty{master: master, slave: slave, read: make(chan struct{})}
	go func() {
		defer close(p.read)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return // EIO once the slave is closed everywhere
			}
		}
	}()
	t.Cleanup(func() {
		slave.Close()
		master.Close()
		<-p.read
	})
	return p
}

// output is what the terminal has shown so far.
func (p *pty) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the terminal shows s.
func (p *pty) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(p.output(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed %q:\n%q", s, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run starts the binary on the terminal (its controlling terminal, in a
// session of its own) and returns a function that waits for its exit code.
func (p *pty) run(t *testing.T, scope string, args ...string) func() int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "TERM=xterm", "RENSEI_SCOPE="+scope)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = p.slave, p.slave, p.slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start rensei: %v", err)
	}
	t.Cleanup(cancel) // kills it when the test fails before waiting
	return func() int {
		t.Helper()
		defer cancel()
		err := cmd.Wait()
		t.Logf("rensei %s on a terminal → %v\n%s", strings.Join(args, " "), err, p.output())
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil:
			t.Fatalf("rensei %s: did not finish in time", strings.Join(args, " "))
		case errors.As(err, &ee):
			return ee.ExitCode()
		case err != nil:
			t.Fatalf("rensei %s: %v", strings.Join(args, " "), err)
		}
		return 0
	}
}

// TestTerminal runs apply and exec -it on a real (pseudo-)terminal: apply
// draws one live progress line over itself, then clears it; exec -it
// gives the command a terminal, passes typed input and the exit code
// through, and restores the local terminal. (The size is not checked:
// busybox's stty cannot read it.)
func TestTerminal(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	r := newRepo(t, cli)
	exclusive(t, r)
	r.writeHello(hello{Name: r.env, Subnet: freeSubnet(t, cli)})

	p := openPTY(t)
	wait := p.run(t, r.scope, "apply", "--yes", r.dir)
	if code := wait(); code != 0 {
		t.Fatalf("apply on a terminal: exit %d", code)
	}
	p.waitFor(t, "Converged")
	out := p.output()
	if !strings.Contains(out, "\r\x1b[KApplying ") || !strings.Contains(out, "local/docker ") || !strings.Contains(out, "Converged") {
		t.Errorf("apply on a terminal drew no progress line:\n%q", out)
	}
	if strings.Contains(out, "[1/") {
		t.Errorf("apply on a terminal wrote plain progress lines:\n%q", out)
	}

	p = openPTY(t)
	before, err := unix.IoctlGetTermios(int(p.slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	wait = p.run(t, r.scope, "exec", "-it", r.dir, r.env+"/shell/0", "--", "sh", "-c", `tty; read x; echo "got $x"; exit 4`)
	p.waitFor(t, "/dev/pts/")
	if _, err := io.WriteString(p.master, "typed\r"); err != nil {
		t.Fatal(err)
	}
	if code := wait(); code != 4 {
		t.Errorf("exec -it: exit %d, want the command's 4", code)
	}
	p.waitFor(t, "got typed")
	out = p.output()
	for _, w := range []string{"/dev/pts/", "got typed"} {
		if !strings.Contains(out, w) {
			t.Errorf("exec -it: the terminal does not show %q:\n%q", w, out)
		}
	}
	after, err := unix.IoctlGetTermios(int(p.slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Errorf("exec -it left the terminal changed: lflag %#x → %#x", before.Lflag, after.Lflag)
	}
}
