package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/render"
	"github.com/rensei-dev/rensei/schema"
)

func newValidate(g *globals) *cobra.Command {
	var cf configFlags
	var output string
	cmd := &cobra.Command{
		Use:   "validate [PATH]",
		Short: "Check a config repository: Jsonnet, schema, names, addresses, capacity",
		Long: `Validate evaluates every site and environment of the config repository at
PATH (or a Git revision of it with --ref), checks them against the schema and
places them, without contacting any host: now (or --at), and again at every
later moment an environment's active window opens, so that a semester
scheduled for next term cannot break the repository when it starts. Every
problem is reported in one run with its file and line: where go-jsonnet
places an evaluation error, and for a value that does not fit, where that
value was written (through local functions, imports and the helpers of
Rensei's library, whose own stack frames --trace shows). Files under
environments/ named *.libsonnet are helpers that environment files import;
they are not loaded. Exit 1 when there is any problem.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := render.CheckFormat(output, render.Text, render.JSON, render.YAML); err != nil {
				return err
			}
			now, err := cf.now()
			if err != nil {
				return err
			}
			rev, err := cf.load(cmd.Context(), args, g)
			containers, hosts := 0, 0
			if err == nil {
				want, perr := rev.Check(now)
				if perr != nil {
					err = configError{repo: rev.Source.Name, err: perr}
				} else {
					hosts = len(want.Hosts)
					for _, h := range want.Hosts {
						containers += len(h.Containers)
					}
				}
			}
			if output != render.Text {
				return validateData(g, output, err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s: valid: %d sites, %d hosts, %d environments, %d containers placed\n",
				rev.Source.Name, len(rev.Topology.Sites), hosts, len(rev.Topology.Environments), containers)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", render.Text, "output format: text, json or yaml")
	return cmd
}

// validateData writes the verdict as data (JSON or YAML); exit 1 when invalid.
func validateData(g *globals, output string, err error) error {
	out := struct {
		Valid    bool            `json:"valid"`
		Problems schema.Problems `json:"problems"`
		Error    string          `json:"error,omitempty"`
	}{Valid: err == nil, Problems: schema.Problems{}}
	var ps schema.Problems
	switch {
	case errors.As(err, &ps):
		out.Problems = ps
	case err != nil:
		var ce configError
		if errors.As(err, &ce) {
			out.Error = ce.err.Error()
		} else {
			out.Error = err.Error()
		}
	}
	if encErr := render.Write(g.stdout, output, out, nil); encErr != nil {
		return encErr
	}
	if err != nil {
		return exitError{code: 1}
	}
	return nil
}
