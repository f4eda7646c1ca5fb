package main

import (
	"os"
	"path/filepath"
	"strings"
)

// stateDir is the default of --state-dir, where the daemon and status keep
// the cache repository of a remote:
//   - $STATE_DIRECTORY, set by systemd for StateDirectory= (its first entry
//     when the unit names several, colon-separated);
//   - $XDG_STATE_HOME/rensei when XDG_STATE_HOME is set (an absolute path,
//     as the XDG Base Directory specification requires; a relative one is
//     ignored);
//   - /var/lib/rensei as root;
//   - ~/.local/state/rensei otherwise (the XDG default), or rensei-state in
//     the temporary directory when there is no home directory.
func stateDir() string {
	return stateDirFrom(os.Getenv, os.Geteuid(), os.UserHomeDir)
}

// stateDirFrom is stateDir with the environment, the effective user ID and
// the home directory lookup given.
func stateDirFrom(getenv func(string) string, euid int, home func() (string, error)) string {
	if d, _, _ := strings.Cut(getenv("STATE_DIRECTORY"), ":"); d != "" {
		return d
	}
	if x := getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "rensei")
	}
	if euid == 0 {
		return "/var/lib/rensei"
	}
	if h, err := home(); err == nil && h != "" {
		return filepath.Join(h, ".local", "state", "rensei")
	}
	return filepath.Join(os.TempDir(), "rensei-state")
}
