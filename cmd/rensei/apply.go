package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/render"
)

func newApply(g *globals) *cobra.Command {
	var (
		cf       configFlags
		hf       hostFlags
		yes      bool
		dryRun   bool
		parallel int
		output   string
	)
	cmd := &cobra.Command{
		Use:   "apply [PATH | PLANFILE]",
		Short: "Converge every host to the config repository, or apply a saved plan",
		Long: `Apply plans as plan does, shows the plan, asks for confirmation (unless
--yes), executes it with bounded parallelism per host (add before delete;
a failed step does not stop the others), then plans again to check that
every host converged. Volumes are never removed. Unreachable hosts are
reported and skipped; the others converge. Exit 1 when a step failed, a
host was unreachable, or a host did not converge.

Given a PLANFILE written by rensei plan -out, apply loads the same
configuration (path, --ref, --tla-*, --hosts, --at as recorded), checks
that the revision (the commit, or the content of the directory), the
desired state and the live state on every host are still those the plan
was made from, and applies exactly its steps without asking. When any of
them changed it refuses, says what changed, and applies nothing (exit 1).

--dry-run is plan: it shows what apply would do and changes nothing; with
a PLANFILE it checks that the plan is still current and shows it.

While steps run, a terminal shows one live line (steps done of the
total, per host, and the steps running for more than a few seconds);
otherwise each step is a plain line on standard error.`,
		Example: `  rensei apply --yes ./config
  rensei plan ./config -out tonight.plan
  rensei apply tonight.plan
  rensei apply --dry-run ./config`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := render.CheckFormat(output, render.Text, render.JSON, render.YAML); err != nil {
				return err
			}
			if isPlanFile(args) {
				for _, f := range []string{"ref", "example", "tla-str", "tla-code", "at", "scope", "hosts", "secrets-dir", "eval-timeout", "eval-memory", "eval-output"} {
					if cmd.Flags().Changed(f) {
						return fmt.Errorf("--%s: %s is a saved plan, which records how the configuration was selected; leave --%s out", f, args[0], f)
					}
				}
				return savedApply{g: g, file: args[0], parallel: parallel, dryRun: dryRun, output: output}.run(ctx)
			}
			if dryRun {
				return livePlan{g: g, cf: &cf, hf: &hf, output: output}.run(ctx, args)
			}
			if output != render.Text && !yes {
				return fmt.Errorf("--output %s needs --yes: a question on the terminal would break the document", output)
			}
			rev, want, hosts, err := cf.connect(ctx, args, g, &hf)
			if err != nil {
				return err
			}
			defer hosts.Close()
			return passRun{g: g, rev: rev, cf: &cf, parallel: parallel, yes: yes, output: output}.run(ctx, want, hosts)
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "apply without asking")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "change nothing: the same as rensei plan (with a PLANFILE: check it is current and show it)")
	cmd.Flags().IntVar(&parallel, "parallel", apply.DefaultParallel, "steps run at once per host")
	cmd.Flags().StringVarP(&output, "output", "o", render.Text, "output format: text, json or yaml (json and yaml print the outcome at the end and need --yes)")
	return cmd
}

// passRun is one apply pass as the command line runs it: show the plan,
// ask, apply with progress, plan again, report.
type passRun struct {
	g        *globals
	rev      *engine.Revision
	cf       *configFlags
	parallel int
	yes      bool
	output   string
	// guard, when set, vets the plan of a saved plan: it was shown and
	// approved when saved, so it is applied without asking.
	guard func(plan.Plan, plan.Observed) (plan.Plan, error)
}

// applyView is the outcome of an apply as a document (-o json|yaml).
type applyView struct {
	Plan      plan.Plan    `json:"plan"`
	Applied   apply.Result `json:"applied"`
	Remaining plan.Plan    `json:"remaining"`
	Converged bool         `json:"converged"`
	Error     string       `json:"error,omitempty"`
}

func (r passRun) run(ctx context.Context, want *place.Desired, hosts *engine.Hosts) error {
	log := r.g.logger()
	text := r.output == render.Text
	prog := newProgress(r.g.stderr, isTerminal(r.g.stderr), r.parallel)
	shown := r.guard != nil || !text
	out := engine.Pass(ctx, want, hosts, engine.Options{
		Secrets: r.rev.Secrets,
		Place:   r.cf.placer(r.rev),
		Apply:   apply.Options{Parallel: r.parallel, Log: log, Progress: prog.step},
		Log:     log,
		Guard:   r.guard,
		Confirm: func(p plan.Plan) (bool, error) {
			if !shown {
				shown = true
				if err := render.Plan(r.g.stdout, p, colour(r.g.stdout)); err != nil {
					return false, err
				}
			}
			ok := true
			if r.guard == nil && !r.yes {
				var err error
				if ok, err = confirm(r.g, p); err != nil || !ok {
					return ok, err
				}
			}
			prog.begin(p)
			return ok, nil
		},
	})
	prog.end()
	if !text {
		err := applied(io.Discard, out)
		v := applyView{Plan: out.Plan, Applied: out.Applied, Remaining: out.Remaining, Converged: out.Converged()}
		if err != nil {
			v.Error = err.Error()
		}
		if werr := render.Write(r.g.stdout, r.output, v, nil); werr != nil {
			return werr
		}
		return err
	}
	if !shown {
		if err := render.Plan(r.g.stdout, out.Plan, colour(r.g.stdout)); err != nil {
			return err
		}
	}
	return applied(r.g.stdout, out)
}

// applied reports the outcome of an apply on w and returns its error.
func applied(w io.Writer, out engine.Outcome) error {
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
	case out.Held != nil:
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
	fmt.Fprintf(w, "Applied %d step(s), %d failed, in %s.\n", len(res.Done), len(res.Failed), res.Duration.Round(1e6))
	for _, f := range res.Failed {
		fmt.Fprintf(w, "  failed: %s: %s\n", f.Step, f.Err)
	}
	switch {
	case len(res.Failed) > 0:
		return fmt.Errorf("%d step(s) failed; the others were applied%s", len(res.Failed), skipped)
	case !out.Remaining.Empty():
		fmt.Fprintln(w, "Not converged; remaining:")
		render.Plan(w, out.Remaining, colour(w))
		return fmt.Errorf("not converged after apply%s", skipped)
	case skipped != "":
		return fmt.Errorf("%s; everything else converged", strings.TrimPrefix(skipped, "; "))
	}
	fmt.Fprintln(w, "Converged: a second plan is empty.")
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
