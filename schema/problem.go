package schema

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one configuration error: where it is and what is wrong.
type Problem struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	// Path is the JSON path of the offending value, used where no line is known.
	Path string `json:"path,omitempty"`
	Msg  string `json:"message"`
}

// String renders the problem as "file:line: message".
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		fmt.Fprintf(&b, "%s: ", p.File)
	}
	if p.Path != "" && p.Line == 0 {
		fmt.Fprintf(&b, "%s: ", p.Path)
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every configuration error found in one run. As an error it
// is terminal: reported, never retried, and nothing is applied.
type Problems []Problem

// Error lists every problem, one a line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Sort orders problems by file, line and message, so output is stable.
func (ps Problems) Sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Msg < b.Msg
	})
}

// Err returns nil when there are no problems, else the sorted problems.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	ps.Sort()
	return ps
}

// reporter collects problems about objects, placing each at the value
// that caused it (see locator); without sources, at the object's Source.
type reporter struct {
	srcs *sources // nil: no positions beyond Source
	out  Problems
}

// item is an object of the topology as the validator sees it: where it
// was defined and, when loaded by Load, where each of its values was
// written. base is the object's path inside the item (["groups", 2] for
// a group of an environment).
type item struct {
	src  Source
	ref  *itemRef
	base vpath
}

// in is the object at p inside it.
func (it item) in(p ...any) item {
	it.base = it.base.join(p...)
	return it
}

// problem is a problem about the value at p inside it (nil: a problem to
// leave out, as it follows from a value that did not decode).
func (r *reporter) problem(it item, p vpath, format string, args ...any) *Problem {
	pr := Problem{File: it.src.File, Line: it.src.Line, Msg: fmt.Sprintf(format, args...)}
	if it.ref != nil && r.srcs != nil {
		full := it.base.join(p...)
		if it.ref.suppressed(full) {
			return nil
		}
		at := r.srcs.lc.at(it.ref, full)
		pr.File, pr.Line, pr.Path = at.File, at.Line, it.ref.show(full).String()
	}
	return &pr
}

// at records a problem about the value at p inside it.
func (r *reporter) at(it item, p vpath, format string, args ...any) {
	if pr := r.problem(it, p, format, args...); pr != nil {
		r.out = append(r.out, *pr)
	}
}
