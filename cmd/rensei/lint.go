package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-jsonnet"
	"github.com/google/go-jsonnet/ast"
	"github.com/google/go-jsonnet/linter"
	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/schema"
)

func newLint(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "lint [PATH]",
		Short: "Find unused variables, wrong fields and arguments, and syntax errors in Jsonnet files",
		Long: `Lint runs go-jsonnet's linter over every *.jsonnet and *.libsonnet file of
the config repository at PATH (default: the current directory), vendor/ and
hidden directories excepted. Imports resolve as when Rensei loads the
repository: relative to the importing file, then lib/, vendor/, then
Rensei's embedded library (import 'rensei.libsonnet'); nothing outside
the repository is read.

The linter reports unused variables, fields that do not exist, calls with
the wrong arguments, undeclared variables and syntax errors: one line per
problem, "file:line:column: message", files named under PATH. Exit 1 when
there is any. Nothing is evaluated: lint is fast and finds problems in
code that validate never reaches.`,
		Example: `  rensei lint
  rensei lint ./config`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			dir := "."
			if len(args) > 0 {
				dir = args[0]
			}
			problems, err := lintRepository(dir)
			if err != nil {
				return err
			}
			for _, p := range problems {
				fmt.Fprintln(g.stdout, p)
			}
			if len(problems) > 0 {
				return fmt.Errorf("%s: %d lint problem(s)", dir, len(problems))
			}
			return nil
		},
	}
}

// lintProblem is one finding of the linter, at a position of a file named
// under the linted directory.
type lintProblem struct {
	File string
	Line int
	Col  int
	Msg  string
}

func (p lintProblem) String() string {
	if p.Line == 0 {
		return p.File + ": " + p.Msg
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Msg)
}

// lintRepository lints every Jsonnet file of the config repository at dir
// in one pass (one VM, so an import is parsed once) and returns the
// problems sorted by file and position. The error is for a repository that
// cannot be read, not for findings.
func lintRepository(dir string) ([]lintProblem, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("config repository %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("config repository %s: not a directory", dir)
	}
	// os.Root refuses imports, symbolic links included, that leave the
	// repository, as loading does.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("config repository %s: %w", dir, err)
	}
	defer root.Close()
	fsys := root.FS()
	files, err := jsonnetFiles(fsys)
	if err != nil {
		return nil, fmt.Errorf("config repository %s: %w", dir, err)
	}
	var snippets []linter.Snippet
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, f), err)
		}
		snippets = append(snippets, linter.Snippet{FileName: f, Code: string(b)})
	}
	findings := &lintCollector{}
	vm := jsonnet.MakeVM()
	vm.Importer(schema.NewImporter(fsys))
	vm.ErrorFormatter = findings
	linter.LintSnippet(vm, io.Discard, snippets)

	out := make([]lintProblem, 0, len(findings.problems))
	for _, p := range findings.problems {
		if p.File != "" && !strings.HasPrefix(p.File, schema.LibPrefix) {
			p.File = filepath.Join(dir, filepath.FromSlash(p.File))
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b lintProblem) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		if a.Col != b.Col {
			return a.Col - b.Col
		}
		return strings.Compare(a.Msg, b.Msg)
	})
	return slices.Compact(out), nil
}

// jsonnetFiles lists the *.jsonnet and *.libsonnet files of fsys, sorted,
// skipping vendor/ (third-party code, formatted and linted upstream) and
// hidden directories (.git).
func jsonnetFiles(fsys fs.FS) ([]string, error) {
	var files []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && (d.Name() == "vendor" || strings.HasPrefix(d.Name(), ".")) {
				return fs.SkipDir
			}
			return nil
		}
		if isJsonnetFile(p) && d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	return files, err
}

func isJsonnetFile(name string) bool {
	return strings.HasSuffix(name, ".jsonnet") || strings.HasSuffix(name, ".libsonnet")
}

// lintCollector is a jsonnet.ErrorFormatter that keeps the linter's
// findings as values instead of formatting them: the linter reports every
// finding through the VM's ErrorFormatter.
type lintCollector struct {
	problems []lintProblem
}

// locatedError is what go-jsonnet's static errors (its internal
// errors.StaticError: syntax errors and the linter's findings) offer.
type locatedError interface {
	error
	Loc() ast.LocationRange
}

// problemAt places a go-jsonnet error at the position it names. A static
// error's text is its location, a space, and the message: the message is
// kept without the location.
func problemAt(err error) lintProblem {
	p := lintProblem{Msg: strings.TrimSpace(err.Error())}
	var le locatedError
	if !errors.As(err, &le) {
		return p
	}
	loc := le.Loc()
	p.File = loc.FileName
	if loc.IsSet() && loc.File != nil {
		p.Line, p.Col = loc.Begin.Line, loc.Begin.Column
		p.Msg = strings.TrimPrefix(p.Msg, loc.String()+" ")
	}
	return p
}

func (c *lintCollector) Format(err error) string {
	c.problems = append(c.problems, problemAt(err))
	return ""
}

func (c *lintCollector) SetMaxStackTraceSize(int) {}

func (c *lintCollector) SetColorFormatter(jsonnet.ColorFormatter) {}
