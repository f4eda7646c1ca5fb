package compare

import (
	"fmt"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/schema"
)

// Revision names one side of a comparison: the ref as the user gave it
// and the commit it resolved to.
type Revision struct {
	Ref    string `json:"ref"`
	Commit string `json:"commit,omitempty"`
}

// String names a revision: "origin/main (1a2b3c4d5e6f)".
func (r Revision) String() string {
	if r.Commit == "" {
		return r.Ref
	}
	return r.Ref + " (" + gitrepo.Short(r.Commit) + ")"
}

// Comment is a pull-request comment: the diff between two revisions, or
// the configuration problems that kept one of them from being evaluated.
type Comment struct {
	Base Revision `json:"base"`
	Head Revision `json:"head"`
	// Diff is nil when a revision has problems.
	Diff   *Diff   `json:"diff,omitempty"`
	Counts *Counts `json:"counts,omitempty"`
	// Problems are the configuration problems of the side ProblemsIn names
	// ("head" or "base"), each with file and line.
	Problems   schema.Problems `json:"problems,omitempty"`
	ProblemsIn string          `json:"problemsIn,omitempty"`
}

// NewComment builds the comment for a diff (nil when problems were found).
func NewComment(base, head Revision, d *Diff, problemsIn string, ps schema.Problems) Comment {
	c := Comment{Base: base, Head: head, Diff: d, ProblemsIn: problemsIn, Problems: ps}
	if d != nil {
		n := d.Counts()
		c.Counts = &n
	}
	if len(ps) == 0 {
		c.ProblemsIn = ""
	}
	return c
}

// Err returns the configuration problems of the revision that has them,
// as an error naming it, or nil.
func (c Comment) Err() error {
	if len(c.Problems) == 0 {
		return nil
	}
	rev := c.Head
	if c.ProblemsIn == "base" {
		rev = c.Base
	}
	return revisionProblems{side: c.ProblemsIn, rev: rev, problems: c.Problems}
}

// revisionProblems are the configuration problems of one compared revision.
type revisionProblems struct {
	side     string
	rev      Revision
	problems schema.Problems
}

func (e revisionProblems) Error() string {
	n := len(e.problems)
	s := "s"
	if n == 1 {
		s = ""
	}
	return fmt.Sprintf("%s revision %s: %d configuration problem%s:\n%s", e.side, e.rev, n, s, e.problems.Error())
}

func (e revisionProblems) Unwrap() error { return e.problems }
