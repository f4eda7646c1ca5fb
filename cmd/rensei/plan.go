package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// hostFlags choose which hosts a command talks to.
type hostFlags struct {
	hosts []string
}

func (h *hostFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringSliceVar(&h.hosts, "hosts", nil, "only these hosts (site/host or host names); default: every host")
}

func newPlan(g *globals) *cobra.Command {
	var (
		cf       configFlags
		hf       hostFlags
		output   string
		detailed bool
	)
	cmd := &cobra.Command{
		Use:   "plan [PATH]",
		Short: "Show what apply would change on every host, and why",
		Long: `Plan evaluates the config repository, lists what Rensei owns on every host
(one list call per kind per host) and prints the steps that would converge
them, each with a reason. Nothing is changed.

With --detailed-exitcode the exit status is 0 when there is nothing to do,
2 when there are changes and 1 on error, as with Terraform.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			_, topo, want, err := cf.desire(args, g)
			if err != nil {
				return err
			}
			hosts, err := reconcile.Connect(topo, hf.hosts, g.logger())
			if err != nil {
				return err
			}
			defer hosts.Close()
			p := planHosts(cmd.Context(), want, hosts, cf.scope)
			if err := writePlan(g, p, output); err != nil {
				return err
			}
			if detailed && !p.Empty() {
				return exitError{code: 2}
			}
			return nil
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 0 without changes, 2 with changes, 1 on error")
	return cmd
}

// planHosts observes the connected hosts and plans only for them.
func planHosts(ctx context.Context, want *place.Desired, hosts *reconcile.Hosts, scope string) plan.Plan {
	scoped := *want
	scoped.Hosts = nil
	for _, h := range want.Hosts {
		if _, ok := hosts.Drivers[h.Key]; ok {
			scoped.Hosts = append(scoped.Hosts, h)
		}
	}
	return plan.Compute(&scoped, reconcile.ObserveScope(ctx, hosts.Drivers, scope))
}

func writePlan(g *globals, p plan.Plan, output string) error {
	if output == "json" {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	return plan.Render(g.stdout, p, colour(g.stdout))
}

// unreachable lists the hosts a plan skipped because they were down.
func unreachable(p plan.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		if s.Kind == plan.KindHost && s.Action == plan.Skip {
			out = append(out, s.Host)
		}
	}
	return out
}

func joinOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return strings.Join(s, ", ")
}
