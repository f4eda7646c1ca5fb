package main

import (
	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/render"
	"github.com/rensei-dev/rensei/schema"
)

func newEval(g *globals) *cobra.Command {
	var (
		cf     configFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "eval [PATH]",
		Short: "Print the desired topology as JSON or YAML: sites, environments, and what each host carries",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := render.CheckFormat(output, render.JSON, render.YAML); err != nil {
				return err
			}
			cf.noSecrets = true
			rev, want, err := cf.desire(cmd.Context(), args, g)
			if err != nil {
				return err
			}
			return render.Write(g.stdout, output, struct {
				Commit       string               `json:"commit,omitempty"`
				Sites        []schema.Site        `json:"sites"`
				Environments []schema.Environment `json:"environments"`
				States       []place.EnvStatus    `json:"states"`
				Hosts        []place.Host         `json:"hosts"`
			}{want.Commit, rev.Topology.Sites, rev.Topology.Environments, want.Environments, want.Hosts}, nil)
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", render.JSON, "output format: json or yaml (the topology is data: there is no text form)")
	return cmd
}
