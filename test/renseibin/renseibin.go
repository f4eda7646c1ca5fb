// Package renseibin builds the rensei command once per test binary, for
// tests that run it as a process (the evaluating child, the daemon).
// The test binary's TestMain calls Remove when its tests are done.
package renseibin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	once sync.Once
	path string
	err  error
)

// Path returns the rensei command, building it on first use.
func Path(tb testing.TB) string {
	tb.Helper()
	once.Do(func() {
		dir, derr := os.MkdirTemp("", "rensei-bin-")
		if derr != nil {
			err = derr
			return
		}
		path = filepath.Join(dir, "rensei")
		if out, berr := exec.Command("go", "build", "-o", path, "github.com/rensei-dev/rensei/cmd/rensei").CombinedOutput(); berr != nil {
			err = fmt.Errorf("go build: %v\n%s", berr, out)
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// Remove deletes what Path built, if anything.
func Remove() {
	if path != "" {
		os.RemoveAll(filepath.Dir(path))
	}
}
