package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/source"
	"github.com/rensei-dev/rensei/schema"
)

// evaluation is what the child process of a daemon's evaluation writes:
// the topology (with the sources JSON does not carry) or the problems.
type evaluation struct {
	Sites        []schema.Site        `json:"sites,omitempty"`
	SiteSources  []schema.Source      `json:"siteSources,omitempty"`
	Environments []schema.Environment `json:"environments,omitempty"`
	EnvSources   []schema.Source      `json:"envSources,omitempty"`
	Problems     schema.Problems      `json:"problems,omitempty"`
}

// childWait bounds a whole child evaluation; the child bounds each file
// itself (--eval-timeout) and exits, which is what stops a runaway file.
const childWait = 5 * time.Minute

// newEvaluateChild is the hidden command a daemon runs to evaluate one
// commit of its cache repository in a process of its own.
func newEvaluateChild(g *globals) *cobra.Command {
	var (
		repoDir, sha string
		timeout      time.Duration
	)
	cmd := &cobra.Command{
		Use:    "__evaluate",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			repo, err := source.OpenRepository(repoDir)
			if err != nil {
				return err
			}
			rev, err := source.Resolve(repo, sha)
			if err != nil {
				return err
			}
			var out evaluation
			topo, err := schema.Load(rev.FS, schema.Options{Timeout: timeout})
			var ps schema.Problems
			switch {
			case errors.As(err, &ps):
				out.Problems = ps
			case err != nil:
				return err
			default:
				out.Sites, out.Environments = topo.Sites, topo.Environments
				for _, s := range topo.Sites {
					out.SiteSources = append(out.SiteSources, s.Source)
				}
				for _, e := range topo.Environments {
					out.EnvSources = append(out.EnvSources, e.Source)
				}
			}
			if err := json.NewEncoder(g.stdout).Encode(out); err != nil {
				return err
			}
			// Exit now: a timed-out evaluation's goroutine ends with us.
			os.Exit(0)
			return nil
		},
	}
	cmd.Flags().StringVar(&repoDir, "repo", "", "the cache repository")
	cmd.Flags().StringVar(&sha, "commit", "", "the commit to evaluate")
	cmd.Flags().DurationVar(&timeout, "eval-timeout", schema.DefaultTimeout, "bound on each file's evaluation")
	return cmd
}

// evaluateInChild returns a daemon.EvaluateFunc that runs `rensei
// __evaluate` (this executable) and decodes its answer.
func evaluateInChild(exe string) func(ctx context.Context, cacheDir, sha string, _ fs.FS, load schema.Options) (*schema.Topology, error) {
	return func(ctx context.Context, cacheDir, sha string, _ fs.FS, load schema.Options) (*schema.Topology, error) {
		timeout := load.Timeout
		if timeout <= 0 {
			timeout = schema.DefaultTimeout
		}
		ctx, cancel := context.WithTimeout(ctx, childWait)
		defer cancel()
		cmd := exec.CommandContext(ctx, exe, "__evaluate", "--repo", cacheDir, "--commit", sha, "--eval-timeout", timeout.String())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				return nil, schema.Problems{{Msg: fmt.Sprintf("evaluation of %s did not finish within %s (process killed)", sha, childWait)}}
			}
			return nil, fmt.Errorf("evaluate %s: %w: %s", sha, err, bytes.TrimSpace(stderr.Bytes()))
		}
		var ev evaluation
		if err := json.Unmarshal(stdout.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("evaluate %s: %w", sha, err)
		}
		if len(ev.Problems) > 0 {
			return nil, ev.Problems
		}
		topo := &schema.Topology{Sites: ev.Sites, Environments: ev.Environments}
		for i := range topo.Sites {
			if i < len(ev.SiteSources) {
				topo.Sites[i].Source = ev.SiteSources[i]
			}
		}
		for i := range topo.Environments {
			if i < len(ev.EnvSources) {
				topo.Environments[i].Source = ev.EnvSources[i]
			}
		}
		if topo.Sites == nil {
			topo.Sites = []schema.Site{}
		}
		if topo.Environments == nil {
			topo.Environments = []schema.Environment{}
		}
		return topo, nil
	}
}
