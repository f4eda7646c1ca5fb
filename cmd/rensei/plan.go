package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/compare"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/place"
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

func newPlan(g *globals) *cobra.Command {
	var (
		cf         configFlags
		hf         hostFlags
		output     string
		detailed   bool
		base, head string
	)
	cmd := &cobra.Command{
		Use:   "plan [PATH]",
		Short: "Show what apply would change on every host, or what a pull request changes",
		Long: `Plan evaluates the config repository, lists what Rensei owns on every host
(one list call per kind per host) and prints the steps that would converge
them, each with a reason. Nothing is changed.

With --base (and --head, default HEAD) plan instead compares two revisions
of the Git repository at PATH, read straight from its objects, and contacts
no host at all: which environments, groups, containers, networks, tunnels
and volumes each revision wants on every host, what appears, changes (and
which fields) or goes away. A renamed environment or group is flagged: it
is a deletion plus a creation, and volumes stay under the old name. This is
what a pull request's CI job runs; -o markdown writes the comment to post.
A head revision with configuration problems prints them with file and line
(in the markdown comment too) and exits 1.

With --detailed-exitcode the exit status is 0 when there is nothing to do
(no differences), 2 when there are changes and 1 on error, as with
Terraform.`,
		Example: `  rensei plan ./config
  rensei plan ./config --base origin/main --head HEAD
  rensei plan . --base origin/main -o markdown > plan.md
  rensei plan . --base v1 --head v2 --at 2027-04-01 --detailed-exitcode`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if base != "" || head != "" {
				if cmd.Flags().Changed("hosts") {
					return errors.New("--hosts: plan --base contacts no host; leave --hosts out")
				}
				rp := revisionPlan{g: g, cf: &cf, base: base, head: head, output: output, detailed: detailed}
				return rp.run(cmd.Context(), args)
			}
			if output == render.Markdown {
				return fmt.Errorf("--output %q: markdown needs --base", output)
			}
			if err := render.CheckFormat(output, render.Text, render.JSON); err != nil {
				return err
			}
			_, want, hosts, err := cf.connect(cmd.Context(), args, g, &hf)
			if err != nil {
				return err
			}
			defer hosts.Close()
			p, _ := engine.Plan(cmd.Context(), want, hosts, cf.scope)
			if output == render.JSON {
				err = render.WriteJSON(g.stdout, p)
			} else {
				err = render.Plan(g.stdout, p, colour(g.stdout))
			}
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
				return fmt.Errorf("unreachable, not planned: %s", strings.Join(down, ", "))
			}
			if detailed && !p.Empty() {
				return exitError{code: 2}
			}
			return nil
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json; with --base also markdown (a pull-request comment)")
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 0 without changes, 2 with changes, 1 on error")
	cmd.Flags().StringVar(&base, "base", "", "compare revisions: the Git revision to compare from (branch, tag, commit, origin/main); no host is contacted")
	cmd.Flags().StringVar(&head, "head", "", "with --base: the Git revision to compare to (default HEAD)")
	return cmd
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
	if err := render.CheckFormat(rp.output, render.Text, render.JSON, render.Markdown); err != nil {
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
	base, err := rp.side(ctx, repo, path, "base", rp.base, opts, now)
	if err != nil {
		return err
	}
	head, err := rp.side(ctx, repo, path, "head", rp.head, opts, now)
	if err != nil {
		return err
	}

	var c compare.Comment
	var failed *revisionProblems
	switch {
	case head.problems != nil:
		failed = &revisionProblems{side: "head", rev: head.rev, problems: head.problems}
	case base.problems != nil:
		failed = &revisionProblems{side: "base", rev: base.rev, problems: base.problems}
	}
	if failed != nil {
		c = compare.NewComment(base.rev, head.rev, nil, failed.side, failed.problems)
	} else {
		d := compare.Compare(base.want, head.want)
		c = compare.NewComment(base.rev, head.rev, &d, "", nil)
	}

	switch rp.output {
	case render.Markdown:
		if err := render.Comment(rp.g.stdout, c); err != nil {
			return err
		}
	case render.JSON:
		if err := render.WriteJSON(rp.g.stdout, c); err != nil {
			return err
		}
		if failed != nil {
			return exitError{code: 1} // the JSON says why
		}
	default:
		if failed == nil {
			fmt.Fprintf(rp.g.stdout, "Comparing %s → %s in %s at %s; no host contacted.\n\n",
				describe(base.rev), describe(head.rev), path, now.Format(time.RFC3339))
			if err := render.Compare(rp.g.stdout, *c.Diff, colour(rp.g.stdout)); err != nil {
				return err
			}
		}
	}
	if failed != nil {
		return *failed
	}
	if rp.detailed && !c.Diff.Empty() {
		return exitError{code: 2}
	}
	return nil
}

// planSide is one evaluated revision: its desired state, or its problems.
type planSide struct {
	rev      compare.Revision
	want     *place.Desired
	problems schema.Problems
}

// side resolves and evaluates one revision. Configuration problems are
// returned in the side; anything else (a revision that does not exist, a
// corrupt repository) is an error naming the revision.
func (rp revisionPlan) side(ctx context.Context, repo *gitrepo.Repo, path, which, ref string, opts schema.Options, now time.Time) (planSide, error) {
	rev, err := repo.Resolve(ref)
	if err != nil {
		return planSide{}, fmt.Errorf("--%s: no such revision in %s: %w", which, path, err)
	}
	s := planSide{rev: compare.Revision{Ref: ref, Commit: rev.SHA()}}
	src := engine.Source{Name: ref, FS: rev.FS, Commit: rev.SHA()}
	var want *place.Desired
	loaded, err := engine.Load(ctx, src, engine.InProcess{}, opts, rp.cf.scope)
	if err == nil {
		want, err = loaded.At(now)
	}
	var ps schema.Problems
	switch {
	case errors.As(err, &ps):
		s.problems = ps
	case err != nil:
		return s, fmt.Errorf("%s revision %s: %w", which, describe(s.rev), err)
	}
	s.want = want
	return s, nil
}

// describe names a revision: "origin/main (1a2b3c4d5e6f)".
func describe(r compare.Revision) string {
	if r.Commit != "" {
		return r.Ref + " (" + gitrepo.Short(r.Commit) + ")"
	}
	return r.Ref
}

// revisionProblems are the configuration problems of one compared revision.
type revisionProblems struct {
	side     string
	rev      compare.Revision
	problems schema.Problems
}

func (e revisionProblems) Error() string {
	n := len(e.problems)
	s := "s"
	if n == 1 {
		s = ""
	}
	return fmt.Sprintf("%s revision %s: %d configuration problem%s:\n%s", e.side, describe(e.rev), n, s, e.problems.Error())
}

func (e revisionProblems) Unwrap() error { return e.problems }
