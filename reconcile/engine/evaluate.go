package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
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
// done: time, memory and output are bounded in the child (which also caps
// its own address space), and whatever a runaway configuration holds goes
// with it when it is killed. A source needs a GitDir and a Commit, or a
// Dir; an embedded source is evaluated in process.
type Child struct {
	// Exe is the rensei executable.
	Exe string
	// Wait bounds the whole child (default ChildWait); the child bounds
	// each file itself (schema.Options.Timeout).
	Wait time.Duration
	// Memory bounds the child's memory in bytes (default DefaultEvalMemory).
	Memory int64
	// MaxRSS, when set, is told the child's peak resident memory in bytes.
	MaxRSS func(int64)
}

// ChildWait bounds a whole child evaluation by default.
const ChildWait = 5 * time.Minute

// DefaultEvalMemory bounds an evaluation's memory by default.
const DefaultEvalMemory = 1 << 30

// Evaluate runs the child and decodes its answer. A bound the child hits
// is a configuration problem naming the file it was evaluating.
func (c Child) Evaluate(ctx context.Context, src Source, opts schema.Options) (*schema.Topology, error) {
	if (src.GitDir == "" || src.Commit == "") && src.Dir == "" {
		return InProcess{}.Evaluate(ctx, src, opts)
	}
	answer, err := c.run(ctx, src, opts, "__evaluate", nil)
	if err != nil {
		return nil, err
	}
	return decodeEvaluation(answer, src.Name)
}

// run runs `Exe command` on src (a commit of a repository, else a
// directory) with c's bounds and opts' arguments, then extra, and returns
// what it answered. A bound the child hits is a configuration problem
// naming the file it was evaluating.
func (c Child) run(ctx context.Context, src Source, opts schema.Options, command string, extra []string) ([]byte, error) {
	args := []string{command}
	if src.GitDir != "" && src.Commit != "" {
		args = append(args, "--repo", src.GitDir, "--commit", src.Commit)
	} else {
		args = append(args, "--dir", src.Dir)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = schema.DefaultTimeout
	}
	wait := c.Wait
	if wait <= 0 {
		wait = ChildWait
	}
	memory := c.Memory
	if memory <= 0 {
		memory = DefaultEvalMemory
	}
	args = append(args, "--eval-timeout", timeout.String(), "--eval-memory", strconv.FormatInt(memory, 10),
		"--eval-output", strconv.FormatInt(opts.MaxOutput, 10))
	if opts.Trace {
		args = append(args, "--trace")
	}
	for k, v := range opts.TLAStr {
		args = append(args, "--tla-str", k+"="+v)
	}
	for k, v := range opts.TLACode {
		args = append(args, "--tla-code", k+"="+v)
	}
	args = append(args, extra...)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Exe, args...)
	var stdout, stderr bytes.Buffer
	// The answer is bounded too: a child cannot make the parent hold more
	// than the evaluation's own output limit.
	cmd.Stdout = &limitedBuffer{buf: &stdout, left: maxAnswer(opts)}
	cmd.Stderr = &limitedBuffer{buf: &stderr, left: 64 << 10}
	// The child names each file before evaluating it on fd 3, so a crash
	// (a stack overflow, say) is still reported against its file.
	progress, err := progressPipe(cmd)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", src.Name, err)
	}
	err = cmd.Run()
	file := progress()
	if c.MaxRSS != nil && cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			c.MaxRSS(ru.Maxrss << 10)
		}
	}
	if err != nil {
		msg := string(bytes.TrimSpace(stderr.Bytes()))
		switch {
		case ctx.Err() != nil:
			return nil, schema.Problems{{File: file, Msg: fmt.Sprintf("evaluation of %s did not finish within %s (process killed)", src.Name, wait)}}
		case strings.Contains(msg, "out of memory"):
			return nil, schema.Problems{{File: file, Msg: fmt.Sprintf("evaluation needed more than %d MiB of memory (--eval-memory): it was stopped", memory>>20)}}
		case strings.Contains(msg, "stack overflow"):
			return nil, schema.Problems{{File: file, Msg: fmt.Sprintf("evaluation recursed too deeply (more than %d MiB of stack): it was stopped; is a recursion missing its end?", maxStack(memory)>>20)}}
		}
		if i := strings.IndexByte(msg, '\n'); i > 0 {
			msg = msg[:i] // the first line says it; a trace is not for users
		}
		return nil, fmt.Errorf("evaluate %s (%s): %w: %s", src.Name, file, err, msg)
	}
	return stdout.Bytes(), nil
}

// progressPipe gives cmd a pipe as fd 3 and returns a function that,
// after cmd ran, returns the last line written to it.
func progressPipe(cmd *exec.Cmd) (last func() string, err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{w}
	cmd.Args = append(cmd.Args, "--progress-fd", "3")
	done := make(chan string, 1)
	go func() {
		defer r.Close()
		var lastLine string
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lastLine = sc.Text()
		}
		done <- lastLine
	}()
	return func() string {
		w.Close() // the child's copy closed when it exited
		return <-done
	}, nil
}

// maxStack bounds the child's goroutine stacks: a runaway recursion stops
// at this depth, well before the time bound, the same way every time.
func maxStack(memory int64) int64 { return min(memory/4, 256<<20) }

// maxAnswer bounds what the parent reads of the child's answer.
func maxAnswer(opts schema.Options) int64 {
	n := opts.MaxTotalOutput
	if n <= 0 {
		n = schema.DefaultMaxTotalOutput
	}
	return 2*n + 1<<20
}

// limitedBuffer keeps at most left bytes and drops the rest.
type limitedBuffer struct {
	buf  *bytes.Buffer
	left int64
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	l.buf.Write(p)
	l.left -= int64(len(p))
	return n, nil
}

// Watch bounds the memory of the evaluating process (the child's side):
// it sets Go's soft limit and polls the memory the runtime holds; past the
// limit it calls over with the file being evaluated (file returns it),
// which must end the process. (No RLIMIT_AS: Go reserves address space
// and thread stacks far beyond what it uses, and fails obscurely under it.)
func Watch(limit int64, file func() string, over func(file string)) (stop func()) {
	debug.SetMemoryLimit(limit * 9 / 10)
	debug.SetMaxStack(int(maxStack(limit)))
	done := make(chan struct{})
	samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			metrics.Read(samples)
			used := int64(samples[0].Value.Uint64() - samples[1].Value.Uint64())
			if used > limit {
				over(file())
			}
		}
	}()
	return func() { close(done) }
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
