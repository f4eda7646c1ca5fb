package main

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/schema"
)

func newEval(g *globals) *cobra.Command {
	var cf configFlags
	cmd := &cobra.Command{
		Use:   "eval [PATH]",
		Short: "Print the desired topology as JSON: sites, environments, and what each host carries",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, topo, want, err := cf.desire(args, g)
			if err != nil {
				return err
			}
			out := struct {
				Commit       string               `json:"commit,omitempty"`
				Sites        []schema.Site        `json:"sites"`
				Environments []schema.Environment `json:"environments"`
				States       []place.EnvStatus    `json:"states"`
				Hosts        []place.Host         `json:"hosts"`
			}{want.Commit, topo.Sites, topo.Environments, want.Environments, want.Hosts}
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	cf.register(cmd)
	return cmd
}
