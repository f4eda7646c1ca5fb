package main

import (
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/render"
)

// Added to the command tree beside the others (main.go's hiddenCommands
// adds whatever a file registers).
func init() { hiddenCommands = append(hiddenCommands, newAccess) }

func newAccess(g *globals) *cobra.Command {
	var (
		cf     configFlags
		hf     hostFlags
		env    string
		output string
	)
	cmd := &cobra.Command{
		Use:   "access [PATH] --env ENV",
		Short: "List how each member reaches their instance: URL, token, where it runs, its state",
		Long: `Access lists, for an environment with an access section (the course
template's notebooks, say), each member's URL, token (or login secret),
the site and host their instance runs on, and its state there (running,
stopped, missing, unreachable). Tokens derived from a secret are computed
here from the secrets directory (--secrets-dir); they are printed, and
written nowhere else. -o csv is ready to import into a learning
management system.`,
		Example: `  rensei access . --env cs101-2027-fall
  rensei access . --env cs101-2027-fall -o csv > cs101-access.csv`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := render.CheckFormat(output, render.Text, render.JSON, render.YAML, render.CSV); err != nil {
				return err
			}
			if env == "" {
				return errors.New("--env is required: access lists the members of one environment")
			}
			ctx := cmd.Context()
			rev, want, hosts, err := cf.connect(ctx, args, g, &hf)
			if err != nil {
				return err
			}
			defer hosts.Close()
			if _, ok := want.Env(env); !ok {
				return errors.New("--env " + env + ": no such environment in the configuration")
			}
			_, obs, want := engine.Plan(ctx, want, hosts, cf.placer(rev))
			rows, err := engine.Members(want, obs, *rev.Secrets, env)
			if err != nil {
				return err
			}
			if output == render.CSV {
				return render.MembersCSV(g.stdout, rows)
			}
			return render.Write(g.stdout, output, rows, func(w io.Writer) error { return render.Members(w, rows) })
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	cmd.Flags().StringVar(&env, "env", "", "the environment whose members are listed (required)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json, yaml or csv")
	return cmd
}
