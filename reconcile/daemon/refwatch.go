package daemon

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"

	"github.com/rensei-dev/rensei/reconcile/engine"
)

// refWatcher wakes the loop when the refs of a local repository change:
// git writes refs/heads/<branch> through a lock file and a rename, and
// packed-refs the same way.
type refWatcher struct {
	w    *fsnotify.Watcher
	wake chan struct{}
	done chan struct{}
}

// armRefWatcher starts watching when the remote is a local path. A
// repository that is not there yet is tried again on the next pass.
func (d *Daemon) armRefWatcher(ctx context.Context) {
	dir := d.cfg.Remote.LocalDir()
	if dir == "" || d.refWatcher != nil {
		return
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		d.log.Warn("ref watch unavailable; polling only", "err", err)
		return
	}
	gitDir := dir
	if st, err := filepath.Glob(filepath.Join(dir, ".git")); err == nil && len(st) == 1 {
		gitDir = st[0]
	}
	branchDir := filepath.Dir(filepath.Join(gitDir, "refs", "heads", filepath.FromSlash(d.cfg.Branch)))
	for _, p := range []string{gitDir, branchDir} {
		if err := w.Add(p); err != nil {
			w.Close()
			d.log.Debug("ref watch not armed yet", "err", err)
			return
		}
	}
	rw := &refWatcher{w: w, wake: make(chan struct{}, 1), done: make(chan struct{})}
	base := filepath.Base(d.cfg.Branch)
	go func() {
		defer close(rw.done)
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				name := filepath.Base(ev.Name)
				if strings.HasPrefix(name, base) || strings.HasPrefix(name, "packed-refs") {
					engine.Notify(rw.wake)
				}
			case _, ok := <-w.Errors:
				if !ok {
					return
				}
			}
		}
	}()
	d.refWatcher = rw
}

func (rw *refWatcher) close() {
	rw.w.Close()
	<-rw.done
}
