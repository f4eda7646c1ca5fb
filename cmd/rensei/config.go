package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/examples"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/schema"
)

// configFlags select and evaluate a config repository.
type configFlags struct {
	// noSecrets: the command places without sealing secrets (eval shows the
	// desired state without reading the secrets directory).
	noSecrets bool
	memory    string
	output    string
	secrets   string
	example   string
	ref       string
	tlaStr    []string
	tlaCode   []string
	at        string
	timeout   time.Duration
	scope     string
	trace     bool
}

func (c *configFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.secrets, "secrets-dir", defaultSecretsDir(), "directory of secret values, one file per secret (env RENSEI_SECRETS_DIR); never in Git")
	f.StringVar(&c.example, "example", "", "use an example embedded in the binary instead of PATH: quickstart")
	f.StringVar(&c.ref, "ref", "", "read this Git revision (branch, tag, commit) of the repository at PATH, straight from its objects")
	f.StringArrayVar(&c.tlaStr, "tla-str", nil, "top-level argument KEY=VALUE (a string), for files that are functions")
	f.StringArrayVar(&c.tlaCode, "tla-code", nil, "top-level argument KEY=CODE (Jsonnet code)")
	f.StringVar(&c.at, "at", "", "evaluate active windows at this time (RFC 3339 or YYYY-MM-DD) instead of now")
	f.DurationVar(&c.timeout, "eval-timeout", schema.DefaultTimeout, "bound on each file's Jsonnet evaluation")
	f.StringVar(&c.memory, "eval-memory", "1Gi", "bound on the memory of the Jsonnet evaluation (a child process)")
	f.StringVar(&c.output, "eval-output", "64Mi", "bound on the JSON one file evaluates to")
	f.BoolVar(&c.trace, "trace", false, "show the frames inside Rensei's Jsonnet library in evaluation errors (only the repository's own are shown without it)")
	f.StringVar(&c.scope, "scope", os.Getenv("RENSEI_SCOPE"), "deployment scope on shared engines: only objects labelled io.rensei.scope=SCOPE are observed and pruned (env RENSEI_SCOPE)")
}

// open resolves PATH (default: the current directory), --ref and
// --example. Nothing is guessed: a directory that is not a config
// repository is an error, never a silent fallback to an example.
func (c *configFlags) open(args []string, g *globals) (engine.Source, error) {
	if c.example != "" {
		if len(args) > 0 || c.ref != "" {
			return engine.Source{}, errors.New("--example: give either an example or a PATH (and --ref), not both")
		}
		if c.example != "quickstart" {
			return engine.Source{}, fmt.Errorf("--example %q: the embedded example is quickstart", c.example)
		}
		return engine.Source{Name: "embedded quickstart", FS: examples.Quickstart(), Origin: "quickstart"}, nil
	}
	path := "."
	if len(args) > 0 {
		path = args[0]
	}
	if c.ref == "" {
		if _, err := os.Stat(filepath.Join(path, "sites")); err != nil {
			abs, _ := filepath.Abs(path)
			return engine.Source{}, fmt.Errorf("%s is not a config repository (no sites/ directory): give its PATH, or --example quickstart for the embedded one", abs)
		}
	}
	if c.ref == "" {
		st, err := os.Stat(path)
		if err != nil {
			return engine.Source{}, fmt.Errorf("config repository %s: %w", path, err)
		}
		if !st.IsDir() {
			return engine.Source{}, fmt.Errorf("config repository %s: not a directory", path)
		}
		abs, _ := filepath.Abs(path)
		// os.Root refuses paths, symlinks included, that leave the
		// repository: a config cannot read the machine's files.
		root, err := os.OpenRoot(path)
		if err != nil {
			return engine.Source{}, fmt.Errorf("config repository %s: %w", path, err)
		}
		origin, err := engine.Origin(path)
		if err != nil {
			return engine.Source{}, fmt.Errorf("config repository %s: %w", path, err)
		}
		return engine.Source{Name: abs, FS: root.FS(), Origin: origin, Dir: abs}, nil
	}
	r, err := gitrepo.Open(path)
	if err != nil {
		return engine.Source{}, err
	}
	rev, err := r.Resolve(c.ref)
	if err != nil {
		return engine.Source{}, fmt.Errorf("%s: %w", path, err)
	}
	root, err := rev.Root()
	if err != nil {
		return engine.Source{}, fmt.Errorf("%s: %w", path, err)
	}
	return engine.Source{Name: path + "@" + c.ref, FS: rev.FS, Commit: rev.SHA(), Origin: engine.OriginOfRoot(root, ""), GitDir: path}, nil
}

func (c *configFlags) loadOptions() (schema.Options, error) {
	opts := schema.Options{TLAStr: map[string]string{}, TLACode: map[string]string{}, Timeout: c.timeout, Trace: c.trace}
	if c.output != "" {
		n, err := schema.ParseBytes(c.output)
		if err != nil {
			return opts, fmt.Errorf("--eval-output %q: %w", c.output, err)
		}
		opts.MaxOutput = n
	}
	for _, kv := range c.tlaStr {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return opts, fmt.Errorf("--tla-str %q: want KEY=VALUE", kv)
		}
		opts.TLAStr[k] = v
	}
	for _, kv := range c.tlaCode {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return opts, fmt.Errorf("--tla-code %q: want KEY=CODE", kv)
		}
		opts.TLACode[k] = v
	}
	return opts, nil
}

func (c *configFlags) now() (time.Time, error) {
	if c.at == "" {
		return time.Now().UTC(), nil
	}
	t, err := schema.ParseTime(c.at)
	if err != nil {
		return t, fmt.Errorf("--at %q: %w", c.at, err)
	}
	return t, nil
}

// load evaluates and validates the selected revision.
func (c *configFlags) load(ctx context.Context, args []string, g *globals) (*engine.Revision, error) {
	src, err := c.open(args, g)
	if err != nil {
		return nil, err
	}
	opts, err := c.loadOptions()
	if err != nil {
		return nil, err
	}
	ev, err := c.evaluator()
	if err != nil {
		return nil, err
	}
	rev, err := engine.Load(ctx, src, ev, opts, c.scope)
	if err != nil {
		return nil, configError{repo: src.Name, err: err}
	}
	for _, w := range rev.Topology.Warnings {
		fmt.Fprintf(g.stderr, "rensei: warning: %s\n", w)
	}
	if !c.noSecrets {
		rev.Secrets = &engine.Secrets{Dir: c.secrets}
	}
	return rev, nil
}

// evaluator evaluates in a child process of this executable, bounded in
// time, memory and output: a runaway configuration cannot take the
// machine's memory, and is gone when stopped.
func (c *configFlags) evaluator() (engine.Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return engine.Child{}, fmt.Errorf("own executable: %w", err)
	}
	var mem int64 // engine.DefaultEvalMemory
	if c.memory != "" {
		if mem, err = schema.ParseBytes(c.memory); err != nil {
			return engine.Child{}, fmt.Errorf("--eval-memory %q: %w", c.memory, err)
		}
	}
	return engine.Child{Exe: exe, Memory: mem}, nil
}

// defaultSecretsDir is $RENSEI_SECRETS_DIR, else /etc/rensei/secrets.
func defaultSecretsDir() string {
	if d := os.Getenv("RENSEI_SECRETS_DIR"); d != "" {
		return d
	}
	return "/etc/rensei/secrets"
}

// desire loads, validates and places the selected revision at --at.
func (c *configFlags) desire(ctx context.Context, args []string, g *globals) (*engine.Revision, *place.Desired, error) {
	now, err := c.now()
	if err != nil {
		return nil, nil, err
	}
	rev, err := c.load(ctx, args, g)
	if err != nil {
		return nil, nil, err
	}
	want, err := rev.At(now)
	if err != nil {
		return rev, nil, configError{repo: rev.Source.Name, err: err}
	}
	return rev, want, nil
}

// connect loads and places the selected revision and connects its hosts
// (or those of --hosts, an unknown one an error before anything is
// contacted). The caller closes the hosts.
func (c *configFlags) connect(ctx context.Context, args []string, g *globals, hf *hostFlags) (*engine.Revision, *place.Desired, *engine.Hosts, error) {
	rev, want, err := c.desire(ctx, args, g)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := hf.check(rev.Topology); err != nil {
		return nil, nil, nil, err
	}
	hosts, err := engine.Connect(rev.Topology, hf.hosts, rev.Scope, g.logger())
	if err != nil {
		return nil, nil, nil, err
	}
	return rev, want, hosts, nil
}

// placer places rev again at --at with the hosts' pins: placement is
// sticky for instances with data (engine.Options.Place).
func (c *configFlags) placer(rev *engine.Revision) engine.Placer {
	return func(pins place.Pins) (*place.Desired, error) {
		now, err := c.now()
		if err != nil {
			return nil, err
		}
		return rev.AtPinned(now, pins)
	}
}

// configError presents Problems under a heading naming the repository.
type configError struct {
	repo string
	err  error
}

func (e configError) Error() string {
	var ps schema.Problems
	if errors.As(e.err, &ps) {
		return fmt.Sprintf("%s: %d configuration problem(s), nothing applied:\n%s", e.repo, len(ps), ps.Error())
	}
	return e.err.Error()
}

func (e configError) Unwrap() error { return e.err }
