package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newDaemon is being written; it fails clearly until then.
func newDaemon(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "daemon",
		Short:  "not available yet",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("daemon: not available in this build")
		},
	}
}
