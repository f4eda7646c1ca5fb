package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newStatus is being written; it fails clearly until then.
func newStatus(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "status",
		Short:  "not available yet",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("status: not available in this build")
		},
	}
}
