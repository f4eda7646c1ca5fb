package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"

	"github.com/rensei-dev/rensei/schema"
)

// Evaluator turns a source into its validated topology, or
// schema.Problems.
type Evaluator interface {
	Evaluate(ctx context.Context, src Source, opts schema.Options) (*schema.Topology, error)
}

// InProcess evaluates in this process. go-jsonnet cannot be interrupted:
// a runaway file keeps its goroutine until the process exits, so
// long-lived processes evaluate in a child (Child).
type InProcess struct{}

// Evaluate loads src.FS with schema.Load.
func (InProcess) Evaluate(_ context.Context, src Source, opts schema.Options) (*schema.Topology, error) {
	return schema.Load(src.FS, opts)
}

// Child evaluates in a child process, `Exe __evaluate`, that exits when
// done: time bounds are enforced on the process, and whatever a runaway
// configuration holds goes with it. It needs a source with a GitDir and a
// Commit; others are evaluated in process.
type Child struct {
	// Exe is the rensei executable.
	Exe string
	// Wait bounds the whole child (default ChildWait); the child bounds
	// each file itself (schema.Options.Timeout).
	Wait time.Duration
}

// ChildWait bounds a whole child evaluation by default.
const ChildWait = 5 * time.Minute

// Evaluate runs the child and decodes its answer.
func (c Child) Evaluate(ctx context.Context, src Source, opts schema.Options) (*schema.Topology, error) {
	if src.GitDir == "" || src.Commit == "" {
		return InProcess{}.Evaluate(ctx, src, opts)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = schema.DefaultTimeout
	}
	wait := c.Wait
	if wait <= 0 {
		wait = ChildWait
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Exe, "__evaluate", "--repo", src.GitDir, "--commit", src.Commit, "--eval-timeout", timeout.String())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, schema.Problems{{Msg: fmt.Sprintf("evaluation of %s did not finish within %s (process killed)", src.Name, wait)}}
		}
		return nil, fmt.Errorf("evaluate %s: %w: %s", src.Name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return decodeEvaluation(stdout.Bytes(), src.Name)
}

// evaluation is the child's answer on its standard output: the topology
// (with the sources JSON does not carry) or the problems.
type evaluation struct {
	Sites        []schema.Site        `json:"sites,omitempty"`
	SiteSources  []schema.Source      `json:"siteSources,omitempty"`
	Environments []schema.Environment `json:"environments,omitempty"`
	EnvSources   []schema.Source      `json:"envSources,omitempty"`
	Policy       *schema.Policy       `json:"policy,omitempty"`
	PolicySource schema.Source        `json:"policySource,omitzero"`
	// TenantSources are the policy's tenants' sources, in order.
	TenantSources []schema.Source `json:"tenantSources,omitempty"`
	Warnings      schema.Problems `json:"warnings,omitempty"`
	Problems      schema.Problems `json:"problems,omitempty"`
}

// ServeChild is the child's side: it evaluates src in process and writes
// the answer to w. Configuration problems are part of the answer; any
// other error is returned.
func ServeChild(ctx context.Context, w io.Writer, src Source, opts schema.Options) error {
	var out evaluation
	topo, err := InProcess{}.Evaluate(ctx, src, opts)
	var ps schema.Problems
	switch {
	case errors.As(err, &ps):
		out.Problems = ps
	case err != nil:
		return err
	default:
		out.Sites, out.Environments, out.Policy, out.Warnings = topo.Sites, topo.Environments, topo.Policy, topo.Warnings
		if topo.Policy != nil {
			out.PolicySource = topo.Policy.Source
			for _, t := range topo.Policy.Tenants {
				out.TenantSources = append(out.TenantSources, t.Source)
			}
		}
		for _, s := range topo.Sites {
			out.SiteSources = append(out.SiteSources, s.Source)
		}
		for _, e := range topo.Environments {
			out.EnvSources = append(out.EnvSources, e.Source)
		}
	}
	return json.NewEncoder(w).Encode(out)
}

func decodeEvaluation(b []byte, name string) (*schema.Topology, error) {
	var ev evaluation
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", name, err)
	}
	if len(ev.Problems) > 0 {
		return nil, ev.Problems
	}
	topo := &schema.Topology{Sites: ev.Sites, Environments: ev.Environments, Policy: ev.Policy, Warnings: ev.Warnings}
	if topo.Policy == nil {
		topo.Policy = schema.DefaultPolicy()
	}
	topo.Policy.Source = ev.PolicySource
	for i := range topo.Policy.Tenants {
		if i < len(ev.TenantSources) {
			topo.Policy.Tenants[i].Source = ev.TenantSources[i]
		}
	}
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
