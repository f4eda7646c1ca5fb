package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
)

// What an approval lets through.
const (
	// ApprovePrune: deletions above the prune guard's threshold.
	ApprovePrune = "prune"
	// ApproveRewind: a head that does not descend from the enforced commit.
	ApproveRewind = "rewind"
)

// Approval is an explicit acknowledgement, kept on the status branch at
// approvals/<commit>.json, that what the daemon holds back for one config
// commit may go ahead: its deletions, or enforcing it although it rewinds
// the branch. Git history records who approved what and when.
type Approval struct {
	Commit string    `json:"commit"`
	Allow  []string  `json:"allow"` // ApprovePrune, ApproveRewind
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
}

// Allows reports whether the approval lets what through.
func (a Approval) Allows(what string) bool {
	for _, x := range a.Allow {
		if x == what {
			return true
		}
	}
	return false
}

func approvalPath(commit string) string { return "approvals/" + commit + ".json" }

// Approve writes an approval onto the status branch of remote (one
// commit, compare-and-swap as every write there). A later approval of the
// same commit replaces the earlier one.
func Approve(ctx context.Context, remote *gitrepo.Remote, branch string, a Approval) error {
	if branch == "" {
		branch = DefaultBranch
	}
	if len(a.Commit) != 40 {
		return fmt.Errorf("approve: commit %q: want a full 40-character hash", a.Commit)
	}
	if a.Time.IsZero() {
		a.Time = time.Now().UTC()
	}
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	_, err = remote.UpdateBranch(ctx, branch, gitrepo.Update{Fetch: true, Author: a.By, Email: "rensei-approve@localhost"}, func(f *gitrepo.Files) (string, error) {
		f.Write(approvalPath(a.Commit), append(b, '\n'))
		return fmt.Sprintf("approve %s of config %s by %s\n\n%s", strings.Join(a.Allow, " and "), gitrepo.Short(a.Commit), a.By, a.Reason), nil
	})
	return err
}

// ReadApproval reads the approval of commit from a status branch tree; ok
// is false when there is none.
func ReadApproval(fsys fs.FS, commit string) (a Approval, ok bool, err error) {
	b, err := fs.ReadFile(fsys, approvalPath(commit))
	if errors.Is(err, fs.ErrNotExist) {
		return a, false, nil
	}
	if err != nil {
		return a, false, err
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, false, fmt.Errorf("%s: %w", approvalPath(commit), err)
	}
	return a, a.Commit == commit, nil
}

// Approved reports whether the status branch of remote holds an approval
// of commit for what. A branch that does not exist holds none.
func Approved(ctx context.Context, remote *gitrepo.Remote, branch, commit, what string) (bool, error) {
	if branch == "" {
		branch = DefaultBranch
	}
	rev, err := remote.ReadBranch(ctx, branch)
	if errors.Is(err, gitrepo.ErrNoBranch) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	a, ok, err := ReadApproval(rev.FS, commit)
	return ok && a.Allows(what), err
}
