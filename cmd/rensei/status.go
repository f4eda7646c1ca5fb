package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/render"
	"github.com/rensei-dev/rensei/reconcile/status"
)

func newStatus(g *globals) *cobra.Command {
	var (
		rf     remoteFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "status [--repo URL|PATH]",
		Short: "Show the latest drift report of every host",
		Long: `Status reads the status branch of the config remote (written by
rensei daemon) and prints the latest report per host: converged, drifted,
failed, unreachable, or a refused or held revision; what drifted; since
when; and at which config commit. --repo defaults to the current directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := render.CheckFormat(output, render.Text, render.JSON, render.YAML); err != nil {
				return err
			}
			if rf.repo == "" {
				rf.repo = "."
			}
			if rf.stateDir == "" {
				dir, err := os.MkdirTemp("", "rensei-status-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				rf.stateDir = dir
			}
			remote, err := rf.open()
			if err != nil {
				return err
			}
			reports, err := status.ReadRemote(cmd.Context(), remote, rf.statusBranch)
			if errors.Is(err, gitrepo.ErrNoBranch) {
				return fmt.Errorf("%s: no branch %s: no daemon has reported yet", remote.Name(), rf.statusBranch)
			}
			if reports == nil && err != nil {
				return err
			}
			// Unreadable reports are named on stderr; the others are shown.
			if err != nil {
				fmt.Fprintf(g.stderr, "rensei: status branch %s: %v\n", rf.statusBranch, err)
			}
			return render.Write(g.stdout, output, reports, func(w io.Writer) error { return render.Reports(w, reports, time.Now()) })
		},
	}
	rf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json or yaml")
	return cmd
}
