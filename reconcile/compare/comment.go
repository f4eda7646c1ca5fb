package compare

import (
	"github.com/rensei-dev/rensei/schema"
)

// Revision names one side of a comparison: the ref as the user gave it
// and the commit it resolved to.
type Revision struct {
	Ref    string `json:"ref"`
	Commit string `json:"commit,omitempty"`
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
