package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/history"
	"github.com/rensei-dev/rensei/reconcile/render"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/schema"
)

func newHistory(g *globals) *cobra.Command {
	var (
		opts         history.Options
		since        string
		keyring      string
		output       string
		tlaStr, code []string
		timeout      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "history [PATH]",
		Short: "Audit trail: who changed an environment, when, what it changed, and what drifted",
		Long: `History reads the Git repository at PATH (default: the current directory)
and lists, oldest first, the config commits that changed what an
environment wants (author, date, signature status, message, and what
changed in the desired topology against the parent), interleaved by time
with the drift reports the daemon committed to the status branch
(reports/<site>/<host>.json on rensei/status) and with the opening and
closing of active windows.

Each commit is compared with the configuration its first parent had
(the last valid one, as the daemon would have kept applying it), both
placed at the commit's time. A commit whose configuration is invalid is
always listed: the daemon applies nothing until a later commit fixes it.

Signatures are "signed" or "unsigned" from the commit object; with
--keyring (an armored public keyring, gpg --export --armor) OpenPGP
signatures are checked: "verified" or "unverified".`,
		Example: `  rensei history ./config --env cs101-2027-spring
  rensei history . --since 2027-04-01 -o json
  rensei history . --env lecture --keyring team.asc --first-parent`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := render.CheckFormat(output, render.Text, render.JSON, render.YAML); err != nil {
				return err
			}
			path := "."
			if len(args) > 0 {
				path = args[0]
			}
			if since != "" {
				t, err := schema.ParseTime(since)
				if err != nil {
					return fmt.Errorf("--since %q: %w", since, err)
				}
				opts.Since = t
			}
			if keyring != "" {
				f, err := os.Open(keyring)
				if err != nil {
					return fmt.Errorf("--keyring: %w", err)
				}
				kr, err := gitrepo.ReadKeyring(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("--keyring %s: %w", keyring, err)
				}
				opts.Keyring = kr
			}
			cf := configFlags{tlaStr: tlaStr, tlaCode: code, timeout: timeout}
			load, err := cf.loadOptions()
			if err != nil {
				return err
			}
			opts.Load = load
			opts.Now = time.Now().UTC()
			repo, err := gitrepo.Open(path)
			if err != nil {
				return err
			}
			tl, err := history.Build(repo, opts)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return render.Write(g.stdout, output, tl, func(w io.Writer) error { return render.Timeline(w, tl, opts.Now) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Env, "env", "", "only this environment's commits, reports and windows")
	f.StringVar(&since, "since", "", "only entries from this time on (RFC 3339 or YYYY-MM-DD)")
	f.StringVar(&opts.StatusBranch, "status-branch", status.DefaultBranch, "branch holding the daemon's drift reports")
	f.StringVar(&opts.Ref, "ref", "HEAD", "the config revision whose history is read")
	f.BoolVar(&opts.FirstParent, "first-parent", false, "follow only first parents: changes as they landed on the branch")
	f.StringVar(&keyring, "keyring", "", "verify OpenPGP commit signatures against this armored public keyring")
	f.StringVarP(&output, "output", "o", "text", "output format: text, json or yaml")
	f.StringArrayVar(&tlaStr, "tla-str", nil, "top-level argument KEY=VALUE (a string), for files that are functions")
	f.StringArrayVar(&code, "tla-code", nil, "top-level argument KEY=CODE (Jsonnet code)")
	f.DurationVar(&timeout, "eval-timeout", schema.DefaultTimeout, "bound on each file's Jsonnet evaluation")
	f.StringVar(&opts.Scope, "scope", os.Getenv("RENSEI_SCOPE"), "deployment scope (env RENSEI_SCOPE)")
	return cmd
}
