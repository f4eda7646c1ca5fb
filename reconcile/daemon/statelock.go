package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockState takes the state directory for this process: one daemon per
// state directory, since two would share (and race on) its cache
// repository. The lock is an flock on dir/daemon.lock, which the kernel
// drops when the process dies; the file holds the holder's PID for the
// error message of the next one. unlock releases it.
func LockState(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, "daemon.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				holder = fmt.Sprintf("the daemon with pid %d", pid)
			}
			return nil, fmt.Errorf("state directory %s is in use by %s: run one daemon per state directory (--state-dir)", dir, holder)
		}
		return nil, fmt.Errorf("state directory %s: lock: %w", dir, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		f.Truncate(0)
		f.Close() // closing drops the flock
	}, nil
}
