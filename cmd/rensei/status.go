package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/report"
	"github.com/rensei-dev/rensei/reconcile/source"
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
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
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
			var reports []report.Report
			err = remote.Locked(func(cache *git.Repository) error {
				tip, err := remote.FetchLocked(cmd.Context(), rf.statusBranch)
				if err != nil {
					return err
				}
				reports, err = report.Read(cache.Storer, tip)
				return err
			})
			if errors.Is(err, source.ErrNoBranch) {
				return fmt.Errorf("%s: no branch %s: no daemon has reported yet", remote.Name(), rf.statusBranch)
			}
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(reports)
			}
			return writeStatus(g, reports)
		},
	}
	rf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func writeStatus(g *globals, reports []report.Report) error {
	if len(reports) == 0 {
		fmt.Fprintln(g.stdout, "No reports yet.")
		return nil
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSTATE\tCONFIG\tSINCE\tDETAIL")
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s (%s ago)\t%s\n", r.Key(), r.State(), report.Short(r.Commit),
			r.Time.Local().Format(time.DateTime), time.Since(r.Time).Round(time.Second), detail(r))
	}
	return tw.Flush()
}

// detail is the first thing worth reading in a report, on one line.
func detail(r report.Report) string {
	first := func(s string) string { line, _, _ := strings.Cut(s, "\n"); return line }
	switch {
	case r.Refused != nil:
		verb := "refused"
		if r.Refused.Held {
			verb = "held"
		}
		return fmt.Sprintf("%s %s: %s", verb, report.Short(r.Refused.Commit), first(strings.Replace(r.Refused.Reason, ":\n", ": ", 1)))
	case r.Error != "":
		return first(r.Error)
	case len(r.Failed) > 0:
		f := r.Failed[0]
		return fmt.Sprintf("%d failed: %s %s %s: %s", len(r.Failed), f.Action, f.Kind, f.Name, f.Error)
	case len(r.Drift) > 0:
		d := r.Drift[0]
		more := ""
		if len(r.Drift) > 1 {
			more = fmt.Sprintf(" (+%d more)", len(r.Drift)-1)
		}
		return fmt.Sprintf("%s %s %s: %s%s", d.Action, d.Kind, d.Name, d.Reason, more)
	}
	return ""
}
