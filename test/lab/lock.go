package lab

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"github.com/docker/docker/client"
)

// lockPath serialises labs between test processes (`go test ./...` runs
// packages in parallel, and they would all use the same names). It lives
// outside DefaultStateDir so that Down can remove that whole directory.
const lockPath = "/run/rensei-lab.lock"

// Lock takes the machine-wide lab lock, waiting for other processes
// (test runs of other packages). The returned func releases it.
func Lock() (func(), error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	return func() { f.Close() }, nil
}

// TryLock takes the machine-wide lab lock that test runs hold while they use
// the lab, without waiting: a command that would change the lab (up, down)
// fails rather than pull it from under a running test. The returned func
// releases the lock.
func TryLock() (func(), error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lab lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, fmt.Errorf("lab is in use by another process (a test run holds %s); try again when it ends", lockPath)
		}
		return nil, fmt.Errorf("lab lock %s: %w", lockPath, err)
	}
	return func() { f.Close() }, nil
}

// Missing names the first prerequisite of a lab this machine lacks, or "".
func Missing() string {
	if err := prerequisites(); err != nil {
		return err.Error()
	}
	cli, err := client.NewClientWithOpts(client.WithHost(hostDocker), client.WithAPIVersionNegotiation())
	if err != nil {
		return "lab: host docker engine: " + err.Error()
	}
	defer cli.Close()
	if err := ping(context.Background(), cli); err != nil {
		return "lab: host docker engine: " + err.Error()
	}
	return ""
}

// Fresh takes the machine-wide lab lock (waiting for other processes),
// removes any lab already there and brings up a new one. release tears it
// down and drops the lock; call it also when Fresh fails.
func Fresh(ctx context.Context, opts Options) (st *Status, release func(context.Context) error, err error) {
	unlock, err := Lock()
	if err != nil {
		return nil, func(context.Context) error { return nil }, fmt.Errorf("lab: %w", err)
	}
	release = func(ctx context.Context) error {
		defer unlock()
		if err := Down(ctx, opts); err != nil {
			return fmt.Errorf("lab: down: %w", err)
		}
		return nil
	}
	if err := Down(ctx, opts); err != nil {
		return nil, release, fmt.Errorf("lab: clearing an old lab: %w", err)
	}
	st, err = Up(ctx, opts)
	if err != nil {
		return nil, release, fmt.Errorf("lab: up: %w", err)
	}
	return st, release, nil
}
