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

// newEvaluateChild is the hidden command that evaluates one revision in a
// process of its own (engine.Child): a commit of a repository, or a
// directory, bounded in time, memory and output, exiting when done.
func newEvaluateChild(g *globals) *cobra.Command {
	var cf childFlags
	cmd := &cobra.Command{
		Use:    "__evaluate",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cf.serve(g, func(out *bytes.Buffer, src engine.Source, opts schema.Options) error {
				return engine.ServeChild(cmd.Context(), out, src, opts)
			})
		},
	}
	cf.register(cmd)
	return cmd
}

// childFlags are what the parent tells an evaluating child (engine.Child):
// the revision or directory, its bounds and the top-level arguments.
type childFlags struct {
	repoDir, sha, dir string
	timeout           time.Duration
	memory, output    int64
	progress          int
	tlaStr, tlaCode   []string
	trace             bool
}

func (c *childFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.repoDir, "repo", "", "the repository holding the commit")
	f.StringVar(&c.sha, "commit", "", "the commit to evaluate")
	f.StringVar(&c.dir, "dir", "", "a directory to evaluate instead")
	f.DurationVar(&c.timeout, "eval-timeout", schema.DefaultTimeout, "bound on each file's evaluation")
	f.Int64Var(&c.memory, "eval-memory", engine.DefaultEvalMemory, "bound on the evaluation's memory, bytes")
	f.Int64Var(&c.output, "eval-output", schema.DefaultMaxOutput, "bound on one file's JSON, bytes")
	f.IntVar(&c.progress, "progress-fd", 0, "file descriptor to name each file on before it is evaluated")
	f.StringArrayVar(&c.tlaStr, "tla-str", nil, "top-level argument KEY=VALUE")
	f.StringArrayVar(&c.tlaCode, "tla-code", nil, "top-level argument KEY=CODE")
	f.BoolVar(&c.trace, "trace", false, "keep the library's frames in evaluation errors")
}

// serve opens the source, names each file on the progress descriptor
// before it is evaluated, runs evaluate under the memory watchdog and
// writes its answer, then exits: with 0 for an answer (problems
// included), 1 when evaluation could not run.
func (c *childFlags) serve(g *globals, evaluate func(out *bytes.Buffer, src engine.Source, opts schema.Options) error) error {
	var src engine.Source
	switch {
	case c.dir != "":
		root, err := os.OpenRoot(c.dir)
		if err != nil {
			return err
		}
		src = engine.Source{Name: c.dir, FS: root.FS()}
	default:
		repo, err := gitrepo.Open(c.repoDir)
		if err != nil {
			return err
		}
		rev, err := repo.Resolve(c.sha)
		if err != nil {
			return err
		}
		src = engine.Source{Name: gitrepo.Short(c.sha), FS: rev.FS, Commit: c.sha}
	}
	cf := configFlags{tlaStr: c.tlaStr, tlaCode: c.tlaCode}
	opts, err := cf.loadOptions()
	if err != nil {
		return err
	}
	opts.Timeout, opts.MaxOutput, opts.Trace = c.timeout, c.output, c.trace
	var current atomic.Value
	current.Store("")
	var progressOut *os.File
	if c.progress > 0 {
		progressOut = os.NewFile(uintptr(c.progress), "progress")
	}
	opts.OnFile = func(f string) {
		current.Store(f)
		if progressOut != nil {
			fmt.Fprintln(progressOut, f)
		}
	}
	// One answer: the evaluation's, or the watchdog's when memory runs out
	// first. Either writes under mu and exits, so a timed-out or runaway
	// evaluation's goroutine ends with us.
	var mu sync.Mutex
	answer := func(b []byte, code int) {
		mu.Lock()
		g.stdout.Write(b)
		os.Exit(code)
	}
	engine.Watch(c.memory, func() string { return current.Load().(string) }, func(file string) {
		b, _ := json.Marshal(map[string]any{"problems": schema.Problems{{File: file,
			Msg: fmt.Sprintf("evaluation needed more than %d MiB of memory (--eval-memory): it was stopped", c.memory>>20)}}})
		answer(b, 0)
	})
	var out bytes.Buffer
	if err := evaluate(&out, src, opts); err != nil {
		fmt.Fprintln(g.stderr, "rensei:", err)
		answer(nil, 1)
	}
	answer(out.Bytes(), 0)
	return nil
}
