package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/examples"
	"github.com/rensei-dev/rensei/reconcile"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/source"
	"github.com/rensei-dev/rensei/schema"
)

// configFlags select and evaluate a config repository.
type configFlags struct {
	ref     string
	tlaStr  []string
	tlaCode []string
	at      string
	timeout time.Duration
	scope   string
}

func (c *configFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.ref, "ref", "", "read this Git revision (branch, tag, commit) of the repository at PATH, straight from its objects")
	f.StringArrayVar(&c.tlaStr, "tla-str", nil, "top-level argument KEY=VALUE (a string), for files that are functions")
	f.StringArrayVar(&c.tlaCode, "tla-code", nil, "top-level argument KEY=CODE (Jsonnet code)")
	f.StringVar(&c.at, "at", "", "evaluate active windows at this time (RFC 3339 or YYYY-MM-DD) instead of now")
	f.DurationVar(&c.timeout, "eval-timeout", schema.DefaultTimeout, "bound on each file's Jsonnet evaluation")
	f.StringVar(&c.scope, "scope", os.Getenv("RENSEI_SCOPE"), "deployment scope on shared engines: only objects labelled io.rensei.scope=SCOPE are observed and pruned (env RENSEI_SCOPE)")
}

// repo is a loaded revision.
type repo struct {
	name   string // what to call it in messages
	fsys   fs.FS
	commit string
}

// open resolves PATH (default: the current directory, or the embedded
// quickstart when the current directory holds no sites/) and --ref.
func (c *configFlags) open(args []string, g *globals) (repo, error) {
	path := "."
	if len(args) > 0 {
		path = args[0]
	} else if _, err := os.Stat("sites"); err != nil && c.ref == "" {
		fmt.Fprintln(g.stderr, "rensei: no sites/ here and no PATH given: using the embedded quickstart (examples/quickstart)")
		return repo{name: "embedded quickstart", fsys: examples.Quickstart()}, nil
	}
	if c.ref == "" {
		st, err := os.Stat(path)
		if err != nil {
			return repo{}, fmt.Errorf("config repository %s: %w", path, err)
		}
		if !st.IsDir() {
			return repo{}, fmt.Errorf("config repository %s: not a directory", path)
		}
		abs, _ := filepath.Abs(path)
		// os.Root refuses paths, symlinks included, that leave the
		// repository: a config cannot read the machine's files.
		root, err := os.OpenRoot(path)
		if err != nil {
			return repo{}, fmt.Errorf("config repository %s: %w", path, err)
		}
		return repo{name: abs, fsys: root.FS()}, nil
	}
	r, err := source.OpenRepository(path)
	if err != nil {
		return repo{}, err
	}
	rev, err := source.Resolve(r, c.ref)
	if err != nil {
		return repo{}, fmt.Errorf("%s: %w", path, err)
	}
	return repo{name: path + "@" + c.ref, fsys: rev.FS, commit: rev.SHA()}, nil
}

func (c *configFlags) loadOptions() (schema.Options, error) {
	opts := schema.Options{TLAStr: map[string]string{}, TLACode: map[string]string{}, Timeout: c.timeout}
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

// desire loads, validates and places the selected revision.
func (c *configFlags) desire(args []string, g *globals) (repo, *schema.Topology, *place.Desired, error) {
	r, err := c.open(args, g)
	if err != nil {
		return r, nil, nil, err
	}
	opts, err := c.loadOptions()
	if err != nil {
		return r, nil, nil, err
	}
	now, err := c.now()
	if err != nil {
		return r, nil, nil, err
	}
	topo, want, err := reconcile.Desire(r.fsys, opts, place.Options{Commit: r.commit, Now: now, Scope: c.scope})
	if err != nil {
		return r, topo, nil, configError{repo: r.name, err: err}
	}
	return r, topo, want, nil
}

// configError presents Problems under a heading naming the repository.
type configError struct {
	repo string
	err  error
}

func (e configError) Error() string {
	if ps, ok := e.err.(schema.Problems); ok {
		return fmt.Sprintf("%s: %d configuration problem(s), nothing applied:\n%s", e.repo, len(ps), ps.Error())
	}
	return e.err.Error()
}

func (e configError) Unwrap() error { return e.err }
