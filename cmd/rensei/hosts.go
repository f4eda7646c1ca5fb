package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/render"
)

func newHosts(g *globals) *cobra.Command {
	var (
		cf     configFlags
		hf     hostFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "hosts [PATH]",
		Short: "Probe every host: Docker engine and version, underlay address, VXLAN",
		Long: `Hosts probes every host of the config repository: whether its Docker
engine answers and its version, whether its underlay address is configured
(in its network namespace when it declares one) and whether the kernel can
make VXLAN devices. Nothing is changed. Exit 1 when a host is unreachable.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := render.CheckFormat(output, render.Text, render.JSON, render.YAML); err != nil {
				return err
			}
			rev, _, hosts, err := cf.connect(cmd.Context(), args, g, &hf)
			if err != nil {
				return err
			}
			defer hosts.Close()
			rows := engine.Probe(cmd.Context(), rev.Topology, hosts)
			if err := render.Write(g.stdout, output, rows, func(w io.Writer) error { return render.Hosts(w, rows) }); err != nil {
				return err
			}
			var down []string
			for _, r := range rows {
				if !r.Status.Reachable {
					down = append(down, r.Host)
				}
			}
			if len(down) > 0 {
				return fmt.Errorf("unreachable: %s", joinOr(down, ""))
			}
			return nil
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", render.Text, "output format: text, json or yaml")
	return cmd
}
