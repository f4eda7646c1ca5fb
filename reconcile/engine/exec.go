package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// TermSize is a terminal's size in character cells.
type TermSize struct {
	Height, Width uint
}

// ExecOptions say what to run in an instance's container and how to
// connect it.
type ExecOptions struct {
	Cmd     []string
	User    string
	WorkDir string
	Env     []string // KEY=value
	// TTY allocates a terminal in the container: input goes to it as
	// typed, and all output arrives on Stdout.
	TTY bool
	// Size is the terminal's first size and Resize its later ones (TTY only).
	Size   TermSize
	Resize <-chan TermSize
	// Stdin, when not nil, is copied to the command until its end, which
	// then closes the command's input.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// exitWait bounds how long Exec waits, after the output ended, for the
// engine to record the command's exit code.
const exitWait = 5 * time.Second

// Exec runs a command in the instance's container through its host's
// engine (the Docker API's exec, as `docker exec` does) and returns the
// command's exit code once its output has ended. The caller checks that
// the instance runs (Instance.CheckRunning). When ctx ends first, Exec
// returns ctx's error; the command may go on in the container.
func (e *Engines) Exec(ctx context.Context, i Instance, o ExecOptions) (int, error) {
	cli, err := e.client(i.Host)
	if err != nil {
		return -1, err
	}
	fail := func(action string, err error) error {
		return fmt.Errorf("instance %s: container %s on %s: %s: %w", i.Ref(), i.Container, i.Host, action, err)
	}
	var size *[2]uint
	if o.TTY && o.Size.Height > 0 && o.Size.Width > 0 {
		size = &[2]uint{o.Size.Height, o.Size.Width}
	}
	created, err := cli.ContainerExecCreate(ctx, i.ID, container.ExecOptions{
		User: o.User, WorkingDir: o.WorkDir, Env: o.Env, Cmd: o.Cmd, Tty: o.TTY, ConsoleSize: size,
		AttachStdin: o.Stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return -1, fail("exec", err)
	}
	conn, err := cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: o.TTY, ConsoleSize: size})
	if err != nil {
		return -1, fail("exec attach", err)
	}
	defer conn.Close()

	stdout, stderr := orDiscard(o.Stdout), orDiscard(o.Stderr)
	outDone := make(chan error, 1)
	go func() {
		var err error
		if o.TTY {
			_, err = io.Copy(stdout, conn.Reader)
		} else {
			_, err = stdcopy.StdCopy(stdout, stderr, conn.Reader)
		}
		outDone <- err
	}()
	if o.Stdin != nil {
		go func() {
			_, _ = io.Copy(conn.Conn, o.Stdin)
			_ = conn.CloseWrite()
		}()
	}
	if o.TTY && o.Resize != nil {
		go func() {
			for s := range o.Resize {
				_ = cli.ContainerExecResize(ctx, created.ID, container.ResizeOptions{Height: s.Height, Width: s.Width})
			}
		}()
	}
	select {
	case err := <-outDone:
		if err != nil && !errors.Is(err, io.EOF) {
			return -1, fail("exec output", err)
		}
	case <-ctx.Done():
		return -1, ctx.Err()
	}
	deadline := time.Now().Add(exitWait)
	for {
		st, err := cli.ContainerExecInspect(ctx, created.ID)
		if err != nil {
			return -1, fail("exec inspect", err)
		}
		if !st.Running {
			return st.ExitCode, nil
		}
		if time.Now().After(deadline) {
			return -1, fail("exec", errors.New("output ended but the command is still running"))
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// LogOptions select what Logs shows.
type LogOptions struct {
	// Follow keeps streaming new output until ctx ends.
	Follow bool
	// Since is Docker's: a duration before now ("10m") or a time (RFC 3339
	// or Unix seconds); empty for the beginning.
	Since string
	// Tail is the number of lines from the end, or "all" (the default).
	Tail       string
	Timestamps bool
}

// Logs copies the instance's container log (what its engine kept of its
// standard output and error) to stdout and stderr. It works on a stopped
// container too. With Follow it returns when the container stops or ctx
// ends (then nil).
func (e *Engines) Logs(ctx context.Context, i Instance, o LogOptions, stdout, stderr io.Writer) error {
	cli, err := e.client(i.Host)
	if err != nil {
		return err
	}
	fail := func(action string, err error) error {
		return fmt.Errorf("instance %s: container %s on %s: %s: %w", i.Ref(), i.Container, i.Host, action, err)
	}
	c, err := cli.ContainerInspect(ctx, i.ID)
	if err != nil {
		return fail("inspect", err)
	}
	tail := o.Tail
	if tail == "" {
		tail = "all"
	}
	rc, err := cli.ContainerLogs(ctx, i.ID, container.LogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: o.Follow, Since: o.Since, Tail: tail, Timestamps: o.Timestamps,
	})
	if err != nil {
		return fail("logs", err)
	}
	defer rc.Close()
	if c.Config != nil && c.Config.Tty {
		_, err = io.Copy(orDiscard(stdout), rc)
	} else {
		_, err = stdcopy.StdCopy(orDiscard(stdout), orDiscard(stderr), rc)
	}
	if err != nil && ctx.Err() == nil {
		return fail("logs", err)
	}
	return nil
}
