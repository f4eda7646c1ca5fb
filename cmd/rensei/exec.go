package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/rensei-dev/rensei/reconcile/engine"
)

func newExec(g *globals) *cobra.Command {
	var (
		cf          configFlags
		hf          hostFlags
		interactive bool
		tty         bool
		user        string
		workdir     string
	)
	cmd := &cobra.Command{
		Use:   "exec [PATH] ENV/GROUP/MEMBER [-it] -- COMMAND [ARG...]",
		Short: "Run a command in an instance, wherever placement put it",
		Long: `Exec finds the instance ENV/GROUP/MEMBER (ENV/GROUP for a group of one)
through placement and the hosts' live state, and runs COMMAND in its
container through that host's Docker engine, as docker exec does. The
command's standard output and error are passed through, and its exit
code is rensei's. -i passes standard input; -t allocates a terminal in
the container when standard input is one (-it for a shell).

An unknown instance is an error that names it, says what its environment
and group hold, and lists close matches; an instance that is not running
is an error that says its state, since when, and on which host.`,
		Example: `  rensei exec ./config cs101-2027-spring/student/s001 -it -- sh
  rensei exec hello/shell/0 -- wget -qO- http://web/
  rensei exec --example quickstart hello/web/0 -- cat /var/www/index.html`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeInstances,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, ref, command, err := execArgs(args, cmd.ArgsLenAtDash())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			inst, obs, err := findInstance(ctx, &cf, path, g, &hf, ref)
			if err != nil {
				return err
			}
			defer obs.close()
			if err := inst.CheckRunning(); err != nil {
				return err
			}
			o := engine.ExecOptions{Cmd: command, User: user, WorkDir: workdir, Stdout: g.stdout, Stderr: g.stderr}
			if interactive {
				o.Stdin = cmd.InOrStdin()
			}
			if tty {
				restore, err := terminal(&o, cmd.InOrStdin())
				if err != nil {
					return err
				}
				defer restore()
			}
			code, err := obs.eng.Exec(ctx, inst, o)
			switch {
			case err != nil:
				return err
			case code != 0:
				return exitError{code: code}
			}
			return nil
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	f := cmd.Flags()
	f.BoolVarP(&interactive, "interactive", "i", false, "pass standard input to the command")
	f.BoolVarP(&tty, "tty", "t", false, "allocate a terminal in the container when standard input is one")
	f.StringVarP(&user, "user", "u", "", "run as this user (name or UID[:GID]) instead of the image's")
	f.StringVarP(&workdir, "workdir", "w", "", "working directory of the command")
	return cmd
}

// execArgs splits exec's arguments: [PATH] ENV/GROUP/MEMBER -- COMMAND…,
// or without "--" [PATH] ENV/GROUP/MEMBER COMMAND… (as docker exec; PATH
// is told from the instance by being a directory).
func execArgs(args []string, dash int) (path []string, ref engine.InstanceRef, command []string, err error) {
	before := args
	switch {
	case dash >= 0:
		before, command = args[:dash], args[dash:]
	case len(args) > 1 && isDir(args[0]):
		before, command = args[:2], args[2:]
	case len(args) > 0:
		before, command = args[:1], args[1:]
	}
	switch len(before) {
	case 1:
	case 2:
		path, before = before[:1], before[1:]
	default:
		return nil, ref, nil, fmt.Errorf("exec: want [PATH] ENV/GROUP/MEMBER -- COMMAND, got %d arguments before --", len(before))
	}
	if len(command) == 0 {
		return nil, ref, nil, errors.New("exec: no command: give it after --, e.g. rensei exec ENV/GROUP/MEMBER -- sh")
	}
	ref, err = engine.ParseInstanceRef(before[0])
	return path, ref, command, err
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// findInstance observes the hosts (those of --hosts) and finds ref among
// their instances, with Docker's state of its container. The caller
// closes the observation.
func findInstance(ctx context.Context, cf *configFlags, path []string, g *globals, hf *hostFlags, ref engine.InstanceRef) (engine.Instance, observed, error) {
	obs, err := observeInstances(ctx, cf, path, g, hf, "", false)
	if err != nil {
		return engine.Instance{}, observed{}, err
	}
	inst, err := obs.list.Find(ref, obs.want.Environments)
	if err == nil && inst.ID != "" {
		one := engine.InstanceList{Instances: []engine.Instance{inst}}
		if err = obs.eng.Describe(ctx, &one); err == nil {
			inst = one.Instances[0]
		}
	}
	if err != nil {
		obs.close()
		if uerr := obs.list.Err(); uerr != nil && errors.Is(err, engine.ErrNoInstance) {
			err = fmt.Errorf("%w (%v)", err, uerr)
		}
		return engine.Instance{}, observed{}, err
	}
	return inst, obs, nil
}

// terminal sets up -t: when stdin is a terminal, the exec gets one in the
// container of the same size, kept in step with the local one, and the
// local terminal is put in raw mode until restore. Otherwise -t is
// ignored, with a note, as output must then stay plain.
func terminal(o *engine.ExecOptions, stdin any) (restore func(), err error) {
	in, ok := stdin.(*os.File)
	if !ok || !isTerminal(in) {
		fmt.Fprintln(o.Stderr, "rensei: standard input is not a terminal: running without one (-t ignored)")
		return func() {}, nil
	}
	fd := int(in.Fd())
	o.TTY = true
	o.Size = termSize(fd)
	resize := make(chan engine.TermSize, 1)
	o.Resize = resize
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		for range winch {
			select {
			case resize <- termSize(fd):
			default:
			}
		}
	}()
	stop := func() {
		signal.Stop(winch)
		close(winch)
		<-relayed
		close(resize)
	}
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		stop()
		return nil, fmt.Errorf("terminal: %w", err)
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		stop()
		return nil, fmt.Errorf("terminal: %w", err)
	}
	return func() {
		stop()
		_ = unix.IoctlSetTermios(fd, unix.TCSETS, old)
	}, nil
}

func termSize(fd int) engine.TermSize {
	ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
	if err != nil {
		return engine.TermSize{}
	}
	return engine.TermSize{Height: uint(ws.Row), Width: uint(ws.Col)}
}
