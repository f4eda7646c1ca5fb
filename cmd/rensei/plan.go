package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/render"
	"github.com/rensei-dev/rensei/schema"
)

// hostFlags choose which hosts a command talks to.
type hostFlags struct {
	hosts []string
}

func (h *hostFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringSliceVar(&h.hosts, "hosts", nil, "only these hosts (site/host or host names); default: every host")
}

// check returns an error when --hosts names a host the topology lacks.
func (h *hostFlags) check(topo *schema.Topology) error {
	if err := engine.CheckOnly(topo, h.hosts); err != nil {
		return fmt.Errorf("--hosts: %w", err)
	}
	return nil
}

func newPlan(g *globals) *cobra.Command {
	var (
		cf         configFlags
		hf         hostFlags
		output     = outputFlag{format: render.Text}
		detailed   bool
		base, head string
	)
	cmd := &cobra.Command{
		Use:   "plan [PATH]",
		Short: "Show what apply would change on every host, or what a pull request changes",
		Long: `Plan evaluates the config repository, lists what Rensei owns on every host
(one list call per kind per host) and prints the steps that would converge
them, each with a reason. Nothing is changed. Environments whose active
window has not opened yet are listed after the steps with what their
opening will create.

With -out FILE (or --out) the plan is also saved: the steps, the config
commit (or a digest of the directory's files), the desired state's digest
and a fingerprint of the live state it was planned against. rensei apply
FILE applies exactly those steps, and refuses when any of them changed.

With --base (and --head, default HEAD) plan instead compares two revisions
of the Git repository at PATH, read straight from its objects, and contacts
no host at all: which environments, groups, containers, networks, tunnels
and volumes each revision wants on every host, what appears, changes (and
which fields) or goes away. An environment whose window has not opened at
--at is also compared at its opening ("when it opens 2027-09-01:
containers +1"). A renamed environment or group is flagged: it
is a deletion plus a creation, and volumes stay under the old name. This is
what a pull request's CI job runs; -o markdown writes the comment to post.
A head revision with configuration problems prints them with file and line
(in the markdown comment too) and exits 1.

With --detailed-exitcode the exit status is 0 when there is nothing to do
(no differences), 2 when there are changes and 1 on error, as with
Terraform.`,
		Example: `  rensei plan ./config
  rensei plan ./config -out tonight.plan && rensei apply tonight.plan
  rensei plan ./config --base origin/main --head HEAD
  rensei plan . --base origin/main -o markdown > plan.md
  rensei plan . --base v1 --head v2 --at 2027-04-01 --detailed-exitcode`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			args, err := output.takeOut(args)
			if err != nil {
				return err
			}
			if len(args) > 1 {
				return fmt.Errorf("plan takes at most one PATH, got %d arguments: %s", len(args), strings.Join(args, " "))
			}
			if base != "" || head != "" {
				switch {
				case cmd.Flags().Changed("hosts"):
					return errors.New("--hosts: plan --base contacts no host; leave --hosts out")
				case output.out != "":
					return errors.New("-out: a saved plan is a live plan; plan --base contacts no host and cannot be saved")
				}
				rp := revisionPlan{g: g, cf: &cf, base: base, head: head, output: output.format, detailed: detailed}
				return rp.run(cmd.Context(), args)
			}
			return livePlan{g: g, cf: &cf, hf: &hf, output: output.format, detailed: detailed, out: output.out}.run(cmd.Context(), args)
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	output.register(cmd, "output format: text, json or yaml; with --base also markdown (a pull-request comment)")
	cmd.Flags().StringVar(&output.out, "out", "", "also save the plan to this file, for rensei apply FILE (-out FILE works too)")
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 0 without changes, 2 with changes, 1 on error")
	cmd.Flags().StringVar(&base, "base", "", "compare revisions: the Git revision to compare from (branch, tag, commit, origin/main); no host is contacted")
	cmd.Flags().StringVar(&head, "head", "", "with --base: the Git revision to compare to (default HEAD)")
	return cmd
}

// livePlan plans the live hosts (plan, and apply --dry-run).
type livePlan struct {
	g        *globals
	cf       *configFlags
	hf       *hostFlags
	output   string
	detailed bool
	out      string // save the plan to this file
}

// planView is a live plan with what scheduled windows will do on opening.
type planView struct {
	plan.Plan
	Upcoming []engine.Upcoming `json:"upcoming,omitempty"`
}

func (lp livePlan) run(ctx context.Context, args []string) error {
	if lp.output == render.Markdown {
		return fmt.Errorf("--output %q: markdown needs --base", lp.output)
	}
	if err := render.CheckFormat(lp.output, render.Text, render.JSON, render.YAML); err != nil {
		return err
	}
	rev, want, hosts, err := lp.cf.connect(ctx, args, lp.g, lp.hf)
	if err != nil {
		return err
	}
	defer hosts.Close()
	p, obs, settled := engine.Plan(ctx, want, hosts, lp.cf.placer(rev))
	now, err := lp.cf.now()
	if err != nil {
		return err
	}
	v := planView{Plan: p, Upcoming: hosts.On(rev.Openings(now))}
	err = render.Write(lp.g.stdout, lp.output, v, func(w io.Writer) error {
		if err := render.Plan(w, p, colour(w)); err != nil {
			return err
		}
		return render.Openings(w, v.Upcoming, colour(w))
	})
	if err != nil {
		return err
	}
	// A host that could not be observed was not planned: nothing
	// can be promised about it, so the plan is not a success.
	if len(p.Unreachable) > 0 {
		var down []string
		for _, u := range p.Unreachable {
			down = append(down, u.Host)
		}
		if lp.out != "" {
			return fmt.Errorf("unreachable, not planned: %s; the plan was not saved to %s", strings.Join(down, ", "), lp.out)
		}
		return fmt.Errorf("unreachable, not planned: %s", strings.Join(down, ", "))
	}
	if lp.out != "" {
		if err := savePlan(lp.out, lp.cf, args, lp.hf, rev, hosts.Only(settled), obs, p); err != nil {
			return err
		}
		note := lp.g.stdout
		if lp.output != render.Text {
			note = lp.g.stderr
		}
		fmt.Fprintf(note, "\nSaved the plan to %s. To apply exactly these steps, run: rensei apply %s\n", lp.out, lp.out)
	}
	if lp.detailed && !p.Empty() {
		return exitError{code: 2}
	}
	return nil
}

func joinOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return strings.Join(s, ", ")
}

// revisionPlan compares the desired state of two Git revisions.
type revisionPlan struct {
	g          *globals
	cf         *configFlags
	base, head string
	output     string
	detailed   bool
}

func (rp revisionPlan) run(ctx context.Context, args []string) error {
	switch {
	case rp.base == "":
		return errors.New("--head needs --base: the revision to compare from")
	case rp.cf.ref != "":
		return errors.New("--ref and --base/--head exclude each other: give the revisions as --base and --head")
	}
	if err := render.CheckFormat(rp.output, render.Text, render.JSON, render.YAML, render.Markdown); err != nil {
		return err
	}
	if rp.head == "" {
		rp.head = "HEAD"
	}
	path := "."
	if len(args) > 0 {
		path = args[0]
	}
	repo, err := gitrepo.Open(path)
	if err != nil {
		return err
	}
	opts, err := rp.cf.loadOptions()
	if err != nil {
		return err
	}
	now, err := rp.cf.now()
	if err != nil {
		return err
	}
	c, err := engine.CompareRevisions(ctx, repo, rp.base, rp.head, opts, rp.cf.scope, now)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	switch rp.output {
	case render.Markdown:
		err = render.Comment(rp.g.stdout, c)
	case render.JSON, render.YAML:
		err = render.Write(rp.g.stdout, rp.output, c, nil)
		if err == nil && c.Err() != nil {
			return exitError{code: 1} // the data says why
		}
	default:
		if c.Err() == nil {
			fmt.Fprintf(rp.g.stdout, "Comparing %s → %s in %s at %s; no host contacted.\n\n", c.Base, c.Head, path, now.Format(time.RFC3339))
			err = render.Compare(rp.g.stdout, *c.Diff, colour(rp.g.stdout))
		}
	}
	switch {
	case err != nil:
		return err
	case c.Err() != nil:
		return c.Err()
	case rp.detailed && !c.Diff.Empty():
		return exitError{code: 2}
	}
	return nil
}
