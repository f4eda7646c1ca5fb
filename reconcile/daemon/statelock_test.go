package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestLockState: a second holder of the state directory is refused and
// told the first one's PID; once released, the directory can be taken.
// The second taker is another process (flock locks are per open file, so
// this also holds within one process, but that is not the case to prove).
func TestLockState(t *testing.T) {
	if os.Getenv("RENSEI_LOCK_CHILD") != "" {
		_, err := LockState(os.Getenv("RENSEI_LOCK_CHILD"))
		fmt.Print(err)
		os.Exit(0)
	}
	dir := t.TempDir()
	unlock, err := LockState(dir)
	if err != nil {
		t.Fatal(err)
	}
	second := func() string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockState$")
		cmd.Env = append(os.Environ(), "RENSEI_LOCK_CHILD="+dir)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	want := fmt.Sprintf("state directory %s is in use by the daemon with pid %d", dir, os.Getpid())
	if got := second(); !strings.Contains(got, want) {
		t.Errorf("second taker: %q, want %q", got, want)
	}
	unlock()
	if got := second(); got != "<nil>" {
		t.Errorf("after unlock: %q, want the lock taken", got)
	}
}
