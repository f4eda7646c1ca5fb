package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/render"
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
			rev, want, hosts, err := cf.connect(ctx, args, g, &hf)
			if err != nil {
				return err
			}
			defer hosts.Close()
			log := g.logger()
			shown := false
			out := engine.Pass(ctx, want, hosts, engine.Options{
				Secrets: rev.Secrets,
				Place:   cf.placer(rev),
				Apply:   apply.Options{Parallel: parallel, Log: log},
				Log:     log,
				Confirm: func(p plan.Plan) (bool, error) {
					shown = true
					if err := render.Plan(g.stdout, p, colour(g.stdout)); err != nil {
						return false, err
					}
					if yes {
						return true, nil
					}
					return confirm(g, p)
				},
			})
			if !shown {
				if err := render.Plan(g.stdout, out.Plan, colour(g.stdout)); err != nil {
					return err
				}
			}
			return applied(g, out)
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "apply without asking")
	cmd.Flags().IntVar(&parallel, "parallel", apply.DefaultParallel, "steps run at once per host")
	return cmd
}

// applied reports the outcome of an apply and returns its error.
func applied(g *globals, out engine.Outcome) error {
	var down []string
	for _, u := range out.Plan.Unreachable {
		down = append(down, u.Host)
	}
	skipped := ""
	if len(down) > 0 {
		skipped = "; unreachable, skipped: " + strings.Join(down, ", ")
	}
	if blocked := out.Remaining.Blocked(); len(blocked) > 0 && !out.Declined {
		var what []string
		for _, s := range blocked {
			what = append(what, s.Host+": "+string(s.Kind)+" "+s.Name)
		}
		skipped += fmt.Sprintf("; %d step(s) blocked by objects that are not this deployment's: %s", len(blocked), strings.Join(what, ", "))
	}
	switch {
	case out.Declined && out.Held != nil:
		return out.Held
	case out.Declined:
		return errors.New("apply cancelled: nothing was changed")
	case out.Plan.Empty():
		if skipped != "" {
			return errors.New(strings.TrimPrefix(skipped, "; "))
		}
		return nil
	}
	res := out.Applied
	fmt.Fprintf(g.stdout, "Applied %d step(s), %d failed, in %s.\n", len(res.Done), len(res.Failed), res.Duration.Round(1e6))
	for _, f := range res.Failed {
		fmt.Fprintf(g.stdout, "  failed: %s: %s\n", f.Step, f.Err)
	}
	switch {
	case len(res.Failed) > 0:
		return fmt.Errorf("%d step(s) failed; the others were applied%s", len(res.Failed), skipped)
	case !out.Remaining.Empty():
		fmt.Fprintln(g.stdout, "Not converged; remaining:")
		render.Plan(g.stdout, out.Remaining, colour(g.stdout))
		return fmt.Errorf("not converged after apply%s", skipped)
	case skipped != "":
		return fmt.Errorf("%s; everything else converged", strings.TrimPrefix(skipped, "; "))
	}
	fmt.Fprintln(g.stdout, "Converged: a second plan is empty.")
	return nil
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
