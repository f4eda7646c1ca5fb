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

// at records a problem for an object defined in src. The line is the first
// line of the file mentioning the first needle found (most specific first);
// path is the JSON path used where no line is found.
func (r *reporter) at(src Source, path string, needles []string, format string, args ...any) {
	p := Problem{File: src.File, Line: src.Line, Path: path, Msg: fmt.Sprintf(format, args...)}
	if line := findLine(r.sources[src.File], needles...); line > 0 {
		p.Line = line
	}
	r.out = append(r.out, p)
}

// findLine returns the 1-based number of the first line that mentions a
// needle as a quoted string or a field name, trying needles in order; 0 when
// none appears. Jsonnet's output has no positions, so this is how a value
// in the evaluated topology is traced back to the line that wrote it.
func findLine(src []byte, needles ...string) int {
	if len(src) == 0 {
		return 0
	}
	text := string(src)
	for _, n := range needles {
		if n == "" {
			continue
		}
		for _, form := range []string{"'" + n + "'", `"` + n + `"`, n + ":", n + " :"} {
			if i := strings.Index(text, form); i >= 0 {
				return strings.Count(text[:i], "\n") + 1
			}
		}
	}
	return 0
}
