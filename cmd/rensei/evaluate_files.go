package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/schema"
)

func init() { hiddenCommands = append(hiddenCommands, newEvaluateFiles) }

// newEvaluateFiles is the hidden command that evaluates some files of one
// revision in a process of its own, with the bounds of __evaluate, for
// incremental evaluation (engine.Incremental): the files that changed
// since the revision before. It answers each file's JSON or problems, and
// decodes and validates nothing (the caller does, with the whole revision).
func newEvaluateFiles(g *globals) *cobra.Command {
	var (
		repoDir, sha, dir string
		files             []string
		timeout           time.Duration
		memory, output    int64
		progress          int
		tlaStr, tlaCode   []string
		trace             bool
	)
	cmd := &cobra.Command{
		Use:    "__evaluate-files",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var src engine.Source
			switch {
			case dir != "":
				root, err := os.OpenRoot(dir)
				if err != nil {
					return err
				}
				src = engine.Source{Name: dir, FS: root.FS()}
			default:
				repo, err := gitrepo.Open(repoDir)
				if err != nil {
					return err
				}
				rev, err := repo.Resolve(sha)
				if err != nil {
					return err
				}
				src = engine.Source{Name: gitrepo.Short(sha), FS: rev.FS, Commit: sha}
			}
			cf := configFlags{tlaStr: tlaStr, tlaCode: tlaCode}
			opts, err := cf.loadOptions()
			if err != nil {
				return err
			}
			opts.Timeout, opts.MaxOutput, opts.Trace = timeout, output, trace
			var current atomic.Value
			current.Store("")
			var progressOut *os.File
			if progress > 0 {
				progressOut = os.NewFile(uintptr(progress), "progress")
			}
			opts.OnFile = func(f string) {
				current.Store(f)
				if progressOut != nil {
					fmt.Fprintln(progressOut, f)
				}
			}
			var mu sync.Mutex
			answer := func(b []byte, code int) {
				mu.Lock()
				g.stdout.Write(b)
				os.Exit(code)
			}
			engine.Watch(memory, func() string { return current.Load().(string) }, func(file string) {
				b, _ := json.Marshal(map[string]any{"problems": schema.Problems{{File: file,
					Msg: fmt.Sprintf("evaluation needed more than %d MiB of memory (--eval-memory): it was stopped", memory>>20)}}})
				answer(b, 0)
			})
			var out bytes.Buffer
			if err := engine.ServeFiles(&out, src, files, opts); err != nil {
				fmt.Fprintln(g.stderr, "rensei:", err)
				answer(nil, 1)
			}
			answer(out.Bytes(), 0)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&repoDir, "repo", "", "the repository holding the commit")
	f.StringVar(&sha, "commit", "", "the commit to evaluate")
	f.StringVar(&dir, "dir", "", "a directory to evaluate instead")
	f.StringArrayVar(&files, "file", nil, "a file to evaluate (repeat)")
	f.DurationVar(&timeout, "eval-timeout", schema.DefaultTimeout, "bound on each file's evaluation")
	f.Int64Var(&memory, "eval-memory", engine.DefaultEvalMemory, "bound on the evaluation's memory, bytes")
	f.Int64Var(&output, "eval-output", schema.DefaultMaxOutput, "bound on one file's JSON, bytes")
	f.IntVar(&progress, "progress-fd", 0, "file descriptor to name each file on before it is evaluated")
	f.StringArrayVar(&tlaStr, "tla-str", nil, "top-level argument KEY=VALUE")
	f.StringArrayVar(&tlaCode, "tla-code", nil, "top-level argument KEY=CODE")
	f.BoolVar(&trace, "trace", false, "keep the library's frames in evaluation errors")
	return cmd
}
