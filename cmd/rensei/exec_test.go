package main

import (
	"slices"
	"testing"
)

// TestExecArgs: [PATH] ENV/GROUP/MEMBER, with or without "--" before the command.
func TestExecArgs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args    []string
		dash    int
		path    []string
		ref     string
		command []string
		err     bool
	}{
		{[]string{"e/g/m", "ls", "-l"}, 1, nil, "e/g/m", []string{"ls", "-l"}, false},
		{[]string{dir, "e/g/m", "ls"}, 2, []string{dir}, "e/g/m", []string{"ls"}, false},
		{[]string{"e/g/m", "ls"}, -1, nil, "e/g/m", []string{"ls"}, false},
		{[]string{dir, "e/g/m", "ls"}, -1, []string{dir}, "e/g/m", []string{"ls"}, false},
		{[]string{"e/g"}, -1, nil, "", nil, true},
		{[]string{dir, "e/g/m"}, 2, nil, "", nil, true},
		{[]string{"a", "b", "c", "ls"}, 3, nil, "", nil, true},
	} {
		path, ref, command, err := execArgs(tc.args, tc.dash)
		if (err != nil) != tc.err {
			t.Errorf("%v (dash %d): error %v", tc.args, tc.dash, err)
			continue
		}
		if err == nil && (!slices.Equal(path, tc.path) || ref.String() != tc.ref || !slices.Equal(command, tc.command)) {
			t.Errorf("%v (dash %d): path %v ref %s command %v", tc.args, tc.dash, path, ref, command)
		}
	}
}
