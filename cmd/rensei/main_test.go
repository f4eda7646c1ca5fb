package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary serve as the evaluation child: commands
// run in process here evaluate configurations in a child process of their
// own executable (rensei __evaluate), which is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "__evaluate" {
		root := newRoot()
		root.SetArgs(os.Args[1:])
		if err := root.Execute(); err != nil {
			os.Stderr.WriteString("rensei: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
