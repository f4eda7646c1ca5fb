package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/schema"
)

// newEvaluateChild is the hidden command a daemon runs to evaluate one
// commit of its cache repository in a process of its own (engine.Child).
func newEvaluateChild(g *globals) *cobra.Command {
	var (
		repoDir, sha string
		timeout      time.Duration
	)
	cmd := &cobra.Command{
		Use:    "__evaluate",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			repo, err := gitrepo.Open(repoDir)
			if err != nil {
				return err
			}
			rev, err := repo.Resolve(sha)
			if err != nil {
				return err
			}
			src := engine.Source{Name: gitrepo.Short(sha), FS: rev.FS, Commit: sha}
			if err := engine.ServeChild(cmd.Context(), g.stdout, src, schema.Options{Timeout: timeout}); err != nil {
				return err
			}
			// Exit now: a timed-out evaluation's goroutine ends with us.
			os.Exit(0)
			return nil
		},
	}
	cmd.Flags().StringVar(&repoDir, "repo", "", "the cache repository")
	cmd.Flags().StringVar(&sha, "commit", "", "the commit to evaluate")
	cmd.Flags().DurationVar(&timeout, "eval-timeout", schema.DefaultTimeout, "bound on each file's evaluation")
	return cmd
}
