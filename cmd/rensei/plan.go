package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile"
	"github.com/rensei-dev/rensei/reconcile/diff"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/source"
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
				return rp.run(args)
			}
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json (markdown needs --base)", output)
			}
			_, want, hosts, err := connectDesired(args, g, &cf, &hf)
			if err != nil {
				return err
			}
			defer hosts.Close()
			p := planHosts(cmd.Context(), want, hosts, cf.scope)
			if err := writePlan(g, p, output); err != nil {
				return err
			}
			// A host that could not be observed was not planned: nothing
			// can be promised about it, so the plan is not a success.
			if down := unreachable(p); len(down) > 0 {
				return fmt.Errorf("unreachable, not planned: %s", joinOr(down, ""))
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

// connectDesired loads and places the selected revision and connects its
// hosts (or those of --hosts). The caller closes the hosts.
func connectDesired(args []string, g *globals, cf *configFlags, hf *hostFlags) (*schema.Topology, *place.Desired, *reconcile.Hosts, error) {
	_, topo, want, err := cf.desire(args, g)
	if err != nil {
		return nil, nil, nil, err
	}
	hosts, err := reconcile.Connect(topo, hf.hosts, g.logger())
	if err != nil {
		return nil, nil, nil, err
	}
	return topo, want, hosts, nil
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

// revisionPlan compares the desired state of two Git revisions.
type revisionPlan struct {
	g          *globals
	cf         *configFlags
	base, head string
	output     string
	detailed   bool
}

func (rp revisionPlan) run(args []string) error {
	switch {
	case rp.base == "":
		return errors.New("--head needs --base: the revision to compare from")
	case rp.cf.ref != "":
		return errors.New("--ref and --base/--head exclude each other: give the revisions as --base and --head")
	case rp.output != "text" && rp.output != "json" && rp.output != "markdown":
		return fmt.Errorf("--output %q: want text, json or markdown", rp.output)
	}
	if rp.head == "" {
		rp.head = "HEAD"
	}
	path := "."
	if len(args) > 0 {
		path = args[0]
	}
	repo, err := source.OpenRepository(path)
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
	base, err := rp.side(repo, path, "base", rp.base, opts, now)
	if err != nil {
		return err
	}
	head, err := rp.side(repo, path, "head", rp.head, opts, now)
	if err != nil {
		return err
	}

	var c diff.Comment
	var failed *revisionProblems
	switch {
	case head.problems != nil:
		failed = &revisionProblems{side: "head", rev: head.rev, problems: head.problems}
	case base.problems != nil:
		failed = &revisionProblems{side: "base", rev: base.rev, problems: base.problems}
	}
	if failed != nil {
		c = diff.NewComment(base.rev, head.rev, nil, failed.side, failed.problems)
	} else {
		d := diff.Compare(base.want, head.want)
		c = diff.NewComment(base.rev, head.rev, &d, "", nil)
	}

	switch rp.output {
	case "markdown":
		if err := c.Markdown(rp.g.stdout); err != nil {
			return err
		}
	case "json":
		enc := json.NewEncoder(rp.g.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(c); err != nil {
			return err
		}
		if failed != nil {
			return exitError{code: 1} // the JSON says why
		}
	default:
		if failed == nil {
			fmt.Fprintf(rp.g.stdout, "Comparing %s → %s in %s at %s; no host contacted.\n\n",
				describe(base.rev), describe(head.rev), path, now.Format(time.RFC3339))
			if err := diff.Render(rp.g.stdout, *c.Diff, colour(rp.g.stdout)); err != nil {
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
	rev      diff.Revision
	want     *place.Desired
	problems schema.Problems
}

// side resolves and evaluates one revision. Configuration problems are
// returned in the side; anything else (a revision that does not exist, a
// corrupt repository) is an error naming the revision.
func (rp revisionPlan) side(repo *git.Repository, path, which, ref string, opts schema.Options, now time.Time) (planSide, error) {
	rev, err := source.Resolve(repo, ref)
	if err != nil {
		return planSide{}, fmt.Errorf("--%s: no such revision in %s: %w", which, path, err)
	}
	s := planSide{rev: diff.Revision{Ref: ref, Commit: rev.SHA()}}
	_, want, err := reconcile.Desire(rev.FS, opts, place.Options{Commit: rev.SHA(), Now: now, Scope: rp.cf.scope})
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

// describe names a revision: "origin/main (1a2b3c4)".
func describe(r diff.Revision) string {
	if len(r.Commit) >= 7 {
		return r.Ref + " (" + r.Commit[:7] + ")"
	}
	return r.Ref
}

// revisionProblems are the configuration problems of one compared revision.
type revisionProblems struct {
	side     string
	rev      diff.Revision
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
