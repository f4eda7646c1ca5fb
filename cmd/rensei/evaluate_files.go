package main

import (
	"bytes"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/schema"
)

func init() { hiddenCommands = append(hiddenCommands, newEvaluateFiles) }

// newEvaluateFiles is the hidden command that evaluates some files of one
// revision in a process of its own, with the bounds of __evaluate, for
// incremental evaluation (engine.Incremental): the files that changed
// since the revision before. It answers each file's JSON or problems, and
// decodes and validates nothing (the caller does, with the whole revision).
func newEvaluateFiles(g *globals) *cobra.Command {
	var (
		cf    childFlags
		files []string
	)
	cmd := &cobra.Command{
		Use:    "__evaluate-files",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cf.serve(g, func(out *bytes.Buffer, src engine.Source, opts schema.Options) error {
				return engine.ServeFiles(out, src, files, opts)
			})
		},
	}
	cf.register(cmd)
	cmd.Flags().StringArrayVar(&files, "file", nil, "a file to evaluate (repeat)")
	return cmd
}
