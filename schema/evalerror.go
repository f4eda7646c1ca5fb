package schema

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/go-jsonnet"
	"github.com/google/go-jsonnet/ast"
	"github.com/google/go-jsonnet/toolutils"
)

// Evaluation errors are placed where go-jsonnet says they are: a syntax
// error at its own location, a runtime error at the innermost frame of its
// stack that is in a user's file (a frame inside Rensei's embedded
// library says where a helper failed, not what to fix). The user's frames
// follow the message as a short trace; the library's only with
// Options.Trace.

// maxFrames bounds the trace shown without Options.Trace.
const maxFrames = 6

// locatedError is what go-jsonnet's static errors (its internal
// errors.StaticError: syntax and static analysis) offer.
type locatedError interface {
	error
	Loc() ast.LocationRange
}

// evalProblem turns the error of evaluating file into a Problem.
func (l *loader) evalProblem(file string, err error) Problem {
	var re jsonnet.RuntimeError
	if errors.As(err, &re) {
		return l.runtimeProblem(file, re)
	}
	var le locatedError
	if errors.As(err, &le) {
		return staticProblem(file, le)
	}
	// An internal error of the evaluator (a crash) carries its Go stack:
	// the first line says it.
	msg, _, _ := strings.Cut(strings.TrimSpace(err.Error()), "\n")
	return Problem{File: file, Msg: msg}
}

// staticProblem places a syntax error at its location.
func staticProblem(file string, le locatedError) Problem {
	loc := le.Loc()
	p := Problem{File: file, Msg: strings.TrimSpace(le.Error())}
	if loc.IsSet() {
		p.Msg = strings.TrimSpace(strings.TrimPrefix(p.Msg, loc.String()))
		if f := locFile(&loc); f != "" {
			p.File = f
		}
		p.Line = loc.Begin.Line
	}
	if p.File != file {
		p.Msg += " (evaluating " + file + ")"
	}
	return p
}

func (l *loader) runtimeProblem(file string, re jsonnet.RuntimeError) Problem {
	frames := re.StackTrace // outermost first
	// An import of a file that does not parse fails at the import: report
	// the imported file's syntax error where it is.
	if n := len(frames); n > 0 {
		if le := l.importFailure(frames[n-1].Loc); le != nil {
			p := staticProblem(file, le)
			if at, ok := userPos(&frames[n-1].Loc); ok {
				p.Msg += fmt.Sprintf("\n\timported at %s:%d", at.File, at.Line)
			}
			return p
		}
	}
	p := Problem{File: file, Msg: re.Error()}
	reported := -1
	for i := len(frames) - 1; i >= 0; i-- {
		if at, ok := userPos(&frames[i].Loc); ok {
			p.File, p.Line, reported = at.File, at.Line, i
			break
		}
	}
	// An error raised while the output is written (Jsonnet is lazy) has
	// the path of the value being written in its outermost frames; when
	// the innermost frames are inside the library, that value's place in
	// the user's files says more than the call that built it.
	if mp := manifestPath(frames); len(mp) > 0 && (reported < 0 || reported < len(frames)-1) {
		if f := l.lc.lookup(file, nil, mp); f.rest == 0 || reported < 0 {
			p.File, p.Line = f.pos.File, f.pos.Line
		}
		p.Msg += " (at " + mp.String() + ")"
	}
	if p.File != file {
		p.Msg += " (evaluating " + file + ")"
	}
	var lines []string
	hidden, users := 0, 0
	for i := len(frames) - 1; i >= 0; i-- {
		f := frames[i]
		if !f.Loc.IsSet() {
			continue // manifestation frames have no place
		}
		_, user := userPos(&f.Loc)
		if user {
			users++
		}
		switch {
		case !user && !l.opts.Trace:
			hidden++
		case !l.opts.Trace && len(lines) >= maxFrames:
		default:
			lines = append(lines, "\t"+frameString(f))
		}
	}
	// A trace that only repeats the reported place says nothing.
	if l.opts.Trace || users > 1 || reported < 0 {
		if len(lines) > 0 {
			p.Msg += "\n" + strings.Join(lines, "\n")
		}
		if hidden > 0 {
			p.Msg += fmt.Sprintf("\n\t(%d frame(s) inside Rensei's library not shown: --trace shows them)", hidden)
		}
	}
	return p
}

// manifestPath is the path of the value being written when the error
// happened, from the frames go-jsonnet's manifestation pushes (`Field
// "groups"`, `Array element 0`), outermost first.
func manifestPath(frames []jsonnet.TraceFrame) vpath {
	var p vpath
	for _, f := range frames {
		if f.Loc.IsSet() {
			continue
		}
		name := f.Loc.FileName
		if i, ok := strings.CutPrefix(name, "Array element "); ok {
			if n, err := strconv.Atoi(i); err == nil {
				p = append(p, n)
			}
		} else if q, ok := strings.CutPrefix(name, "Field "); ok {
			if s, err := strconv.Unquote(q); err == nil {
				p = append(p, s)
			}
		}
	}
	return p
}

func frameString(f jsonnet.TraceFrame) string {
	s := f.Loc.String()
	if f.Name != "" {
		s += "\t" + f.Name
	}
	return s
}

// importFailure returns the syntax error of the file imported at loc, when
// loc is an import whose file does not parse.
func (l *loader) importFailure(loc ast.LocationRange) locatedError {
	file := locFile(&loc)
	if !loc.IsSet() || file == "" {
		return nil
	}
	imp := importAt(l.lc.tree(file), loc)
	if imp == nil || imp.File == nil {
		return nil
	}
	contents, foundAt, err := l.im.Import(file, imp.File.Value)
	if err != nil {
		return nil
	}
	_, err = jsonnet.SnippetToAST(foundAt, contents.String())
	var le locatedError
	if errors.As(err, &le) {
		return le
	}
	return nil
}

// importAt finds the import expression that starts at loc.
func importAt(n ast.Node, loc ast.LocationRange) *ast.Import {
	if n == nil {
		return nil
	}
	if imp, ok := n.(*ast.Import); ok && imp.Loc().Begin == loc.Begin {
		return imp
	}
	for _, c := range toolutils.Children(n) {
		if l := c.Loc(); l != nil && l.IsSet() && (l.End.Line < loc.Begin.Line || l.Begin.Line > loc.Begin.Line) {
			continue
		}
		if imp := importAt(c, loc); imp != nil {
			return imp
		}
	}
	return nil
}
