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

// reporter collects problems about objects, placing each at a line of the
// object's source file where the offending value appears.
type reporter struct {
	sources map[string][]byte // file → content, for line lookup
	out     Problems
}

// at records a problem for an object defined in src. Jsonnet's output has
// no positions, so the line is found in the source text: anchors (the
// names of the enclosing objects, outermost first) narrow the search to
// the object, then the first needle found after the anchor gives the line;
// when no needle is found the innermost anchor's line is used. path is the
// JSON path, printed where no line is known.
func (r *reporter) at(src Source, path string, anchors, needles []string, format string, args ...any) {
	p := Problem{File: src.File, Line: src.Line, Path: path, Msg: fmt.Sprintf(format, args...)}
	if line := locate(r.sources[src.File], anchors, needles); line > 0 {
		p.Line = line
	}
	r.out = append(r.out, p)
}

// locate returns the 1-based line for anchors and needles (see at), or 0.
func locate(src []byte, anchors, needles []string) int {
	text := string(src)
	pos, found := 0, -1
	for _, a := range anchors {
		if i := anchorFrom(text, pos, a); i >= 0 {
			pos, found = i, i
		}
	}
	for _, n := range needles {
		if i := indexFrom(text, pos, n); i >= 0 {
			return strings.Count(text[:i], "\n") + 1
		}
	}
	for _, n := range needles {
		if i := indexFrom(text, 0, n); i >= 0 {
			return strings.Count(text[:i], "\n") + 1
		}
	}
	if found >= 0 {
		return strings.Count(text[:found], "\n") + 1
	}
	return 0
}

// anchorFrom finds where an object named name is defined at or after
// start: a `name: 'x'` field or a helper call `('x'`, else any mention.
func anchorFrom(text string, start int, name string) int {
	if name == "" || start > len(text) {
		return -1
	}
	best := -1
	for _, q := range []string{"'", `"`} {
		for _, form := range []string{"name: " + q + name + q, "name:" + q + name + q, "(" + q + name + q} {
			if i := strings.Index(text[start:], form); i >= 0 && (best < 0 || start+i < best) {
				best = start + i
			}
		}
	}
	if best >= 0 {
		return best
	}
	return indexFrom(text, start, name)
}

// indexFrom finds needle at or after start as a quoted string or a field
// name; -1 when absent.
func indexFrom(text string, start int, needle string) int {
	if needle == "" || start > len(text) {
		return -1
	}
	best := -1
	for _, form := range []string{"'" + needle + "'", `"` + needle + `"`, needle + ":", needle + " :"} {
		if i := strings.Index(text[start:], form); i >= 0 && (best < 0 || start+i < best) {
			best = start + i
		}
	}
	return best
}

// findLine returns the 1-based number of the first line that mentions a
// needle as a quoted string or a field name, trying needles in order; 0
// when none appears.
func findLine(src []byte, needles ...string) int {
	return locate(src, nil, needles)
}
