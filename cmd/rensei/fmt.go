package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-jsonnet/formatter"
	"github.com/spf13/cobra"
)

func newFmt(g *globals) *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "fmt [PATH]",
		Short: "Format Jsonnet files in the canonical style (jsonnetfmt's)",
		Long: `Fmt rewrites every *.jsonnet and *.libsonnet file under PATH (default: the
current directory; a single file works too) in go-jsonnet's canonical style,
the one jsonnetfmt applies: two-space indentation, single quotes, sorted
imports. vendor/ and hidden directories are skipped. The files it changed
are listed, one a line.

With --check nothing is written: the files that are not formatted are
listed and the exit status is 1 when there is any (for CI). A file that
does not parse is reported with its file, line and column, and the others
are still formatted.`,
		Example: `  rensei fmt
  rensei fmt --check ./config`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			target := "."
			if len(args) > 0 {
				target = args[0]
			}
			changed, err := formatJsonnet(target, !check)
			for _, f := range changed {
				fmt.Fprintln(g.stdout, f)
			}
			if err != nil {
				return err
			}
			if check && len(changed) > 0 {
				return fmt.Errorf("%s: %d file(s) not formatted: run rensei fmt %s", target, len(changed), target)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "write nothing: list the files that are not formatted and exit 1 when there is any")
	return cmd
}

// formatJsonnet formats the Jsonnet files under target (a directory, walked
// as lint walks it, or one file) and returns those whose text changed,
// named under target, in order. With write the changed files are replaced
// (atomically, keeping their mode). Files that fail to parse or to be
// written are errors naming file, line and column; the others are still
// formatted.
func formatJsonnet(target string, write bool) ([]string, error) {
	st, err := os.Stat(target)
	if err != nil {
		return nil, err
	}
	files := []string{target}
	if st.IsDir() {
		rels, err := jsonnetFiles(os.DirFS(target))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", target, err)
		}
		files = files[:0]
		for _, r := range rels {
			files = append(files, filepath.Join(target, filepath.FromSlash(r)))
		}
	}
	var changed []string
	var errs []error
	for _, f := range files {
		diff, err := formatFile(f, write)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if diff {
			changed = append(changed, f)
		}
	}
	return changed, errors.Join(errs...)
}

// formatFile reports whether the file is not in canonical form and, with
// write, rewrites it.
func formatFile(name string, write bool) (bool, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return false, err
	}
	out, err := formatter.Format(name, string(b), formatter.DefaultOptions())
	if err != nil {
		p := problemAt(err)
		p.File = name
		return false, errors.New(p.String())
	}
	if out == string(b) {
		return false, nil
	}
	if write {
		if err := replaceFile(name, []byte(out)); err != nil {
			return true, err
		}
	}
	return true, nil
}

// replaceFile writes data to name through a temporary file in the same
// directory, so a reader sees the old or the new text, never a part.
func replaceFile(name string, data []byte) error {
	st, err := os.Stat(name)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".fmt-*")
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), st.Mode().Perm())); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
