package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newHistory is being written; it fails clearly until then.
func newHistory(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "history",
		Short:  "not available yet",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("history: not available in this build")
		},
	}
}
