package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/status"
)

func newApprove(g *globals) *cobra.Command {
	var (
		rf            remoteFlags
		commit        string
		prune, rewind bool
		reason        string
	)
	cmd := &cobra.Command{
		Use:   "approve --repo URL|PATH --commit SHA (--prune | --rewind)",
		Short: "Let the daemon go ahead with what it holds back for a commit",
		Long: `The daemon holds back, for a config commit, what needs a person's yes:
deletions above the prune guard's threshold (a new revision, a window that
closed, a clock that jumped), and enforcing a head that does not descend
from the enforced commit (a force-push back). rensei status and the
reports say what is held and for which commit.

Approve writes that yes to the status branch of the config remote
(approvals/<commit>.json, one commit: Git history records who approved
what, when and why); every daemon of the deployment reads it on its next
pass. A commit whose message carries the trailer "Rensei-Approve: prune"
(or rewind) approves itself, signed by an admin key when the daemon has
--admin-keyring.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var allow []string
			if prune {
				allow = append(allow, status.ApprovePrune)
			}
			if rewind {
				allow = append(allow, status.ApproveRewind)
			}
			if len(allow) == 0 {
				return errors.New("say what is approved: --prune, --rewind, or both")
			}
			remote, err := rf.open()
			if err != nil {
				return err
			}
			by := "unknown"
			if u, err := user.Current(); err == nil {
				by = u.Username
			}
			if host, err := os.Hostname(); err == nil {
				by += "@" + host
			}
			if err := status.Approve(cmd.Context(), remote, rf.statusBranch, status.Approval{Commit: commit, Allow: allow, By: by, Reason: reason}); err != nil {
				return err
			}
			_, err = fmt.Fprintf(g.stdout, "Approved %v of config %s on %s of %s.\n", allow, commit, rf.statusBranch, remote.Name())
			return err
		},
	}
	rf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&commit, "commit", "", "the config commit (full hash) whose held changes may go ahead")
	f.BoolVar(&prune, "prune", false, "its deletions above the prune guard's threshold")
	f.BoolVar(&rewind, "rewind", false, "enforcing it although it does not descend from the enforced commit")
	f.StringVar(&reason, "reason", "", "why, for the audit trail")
	_ = cmd.MarkFlagRequired("commit")
	return cmd
}
