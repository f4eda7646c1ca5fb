package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile"
	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

func newApply(g *globals) *cobra.Command {
	var (
		cf       configFlags
		hf       hostFlags
		yes      bool
		parallel int
	)
	cmd := &cobra.Command{
		Use:   "apply [PATH]",
		Short: "Converge every host to the config repository",
		Long: `Apply plans as plan does, shows the plan, asks for confirmation (unless
--yes), executes it with bounded parallelism per host (add before delete;
a failed step does not stop the others), then plans again to check that
every host converged. Volumes are never removed. Unreachable hosts are
reported and skipped; the others converge. Exit 1 when a step failed, a
host was unreachable, or a host did not converge.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, topo, want, err := cf.desire(args, g)
			if err != nil {
				return err
			}
			log := g.logger()
			hosts, err := reconcile.Connect(topo, hf.hosts, log)
			if err != nil {
				return err
			}
			defer hosts.Close()
			p := planHosts(ctx, want, hosts, cf.scope)
			if err := plan.Render(g.stdout, p, colour(g.stdout)); err != nil {
				return err
			}
			down := unreachable(p)
			if p.Empty() {
				if len(down) > 0 {
					return fmt.Errorf("unreachable, skipped: %s", joinOr(down, ""))
				}
				return nil
			}
			if !yes {
				ok, err := confirm(g, p)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("apply cancelled: nothing was changed")
				}
			}
			res, applyErr := apply.Apply(ctx, p, hosts.Drivers, apply.Options{Parallel: parallel, Log: log})
			again := planHosts(ctx, want, hosts, cf.scope)
			fmt.Fprintf(g.stdout, "Applied %d step(s), %d failed, in %s.\n", len(res.Done), len(res.Failed), res.Duration.Round(1e6))
			for _, f := range res.Failed {
				fmt.Fprintf(g.stdout, "  failed: %s: %s\n", f.Step, f.Err)
			}
			skipped := ""
			if len(down) > 0 {
				skipped = "; unreachable, skipped: " + joinOr(down, "")
			}
			switch {
			case applyErr != nil:
				return fmt.Errorf("%d step(s) failed; the others were applied%s", len(res.Failed), skipped)
			case !again.Empty():
				fmt.Fprintln(g.stdout, "Not converged; remaining:")
				plan.Render(g.stdout, again, colour(g.stdout))
				return fmt.Errorf("not converged after apply%s", skipped)
			case len(down) > 0:
				return fmt.Errorf("unreachable, skipped: %s; every other host converged", joinOr(down, ""))
			}
			fmt.Fprintln(g.stdout, "Converged: a second plan is empty.")
			return nil
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "apply without asking")
	cmd.Flags().IntVar(&parallel, "parallel", apply.DefaultParallel, "steps run at once per host")
	return cmd
}

// confirm asks on the terminal; without one it refuses rather than guess.
func confirm(g *globals, p plan.Plan) (bool, error) {
	if !isTerminal(os.Stdin) {
		return false, fmt.Errorf("standard input is not a terminal: pass --yes to apply %d change(s) unattended", p.Changes())
	}
	fmt.Fprintf(g.stdout, "Apply %d change(s)? Only 'yes' is accepted: ", p.Changes())
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	return strings.TrimSpace(line) == "yes", nil
}
