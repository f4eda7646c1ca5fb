package main

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestStateDir(t *testing.T) {
	home := func() (string, error) { return "/home/ann", nil }
	noHome := func() (string, error) { return "", errors.New("$HOME is not defined") }
	for _, tc := range []struct {
		name string
		env  map[string]string
		euid int
		home func() (string, error)
		want string
	}{
		{"systemd StateDirectory=", map[string]string{"STATE_DIRECTORY": "/var/lib/rensei", "XDG_STATE_HOME": "/x"}, 0, home, "/var/lib/rensei"},
		{"systemd, several directories: the first", map[string]string{"STATE_DIRECTORY": "/var/lib/rensei:/var/lib/other"}, 1000, home, "/var/lib/rensei"},
		{"XDG_STATE_HOME", map[string]string{"XDG_STATE_HOME": "/home/ann/state"}, 1000, home, "/home/ann/state/rensei"},
		{"XDG_STATE_HOME before root's default", map[string]string{"XDG_STATE_HOME": "/root/.state"}, 0, home, "/root/.state/rensei"},
		{"a relative XDG_STATE_HOME is ignored", map[string]string{"XDG_STATE_HOME": "state"}, 1000, home, "/home/ann/.local/state/rensei"},
		{"root", nil, 0, home, "/var/lib/rensei"},
		{"a user", nil, 1000, home, "/home/ann/.local/state/rensei"},
		{"a user without a home", nil, 1000, noHome, filepath.Join(t.TempDir(), "..", "rensei-state")},
	} {
		getenv := func(k string) string { return tc.env[k] }
		got := stateDirFrom(getenv, tc.euid, tc.home)
		if tc.name == "a user without a home" {
			if filepath.Base(got) != "rensei-state" || !filepath.IsAbs(got) {
				t.Errorf("%s: %q", tc.name, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	t.Setenv("STATE_DIRECTORY", "/run/test-state")
	if got := stateDir(); got != "/run/test-state" {
		t.Errorf("stateDir() with STATE_DIRECTORY set: %q", got)
	}
}
