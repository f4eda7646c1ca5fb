package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/render"
)

// planFormat names the saved plan's format; apply refuses any other.
const planFormat = "rensei-plan/1"

// savedPlan is the file plan -out writes and apply FILE reads: the steps,
// how the configuration was selected (so apply loads the same one), and
// the snapshot it was planned from (revision, desired state, live state).
type savedPlan struct {
	Format   string          `json:"format"`
	Created  time.Time       `json:"created"`
	Config   savedConfig     `json:"config"`
	Snapshot engine.Snapshot `json:"snapshot"`
	Plan     plan.Plan       `json:"plan"`
}

// savedConfig is how the configuration was selected: the flags of plan.
type savedConfig struct {
	Path       string        `json:"path,omitempty"` // absolute; empty with Example
	Example    string        `json:"example,omitempty"`
	Ref        string        `json:"ref,omitempty"`
	TLAStr     []string      `json:"tlaStr,omitempty"`
	TLACode    []string      `json:"tlaCode,omitempty"`
	Scope      string        `json:"scope,omitempty"`
	At         string        `json:"at,omitempty"`
	Hosts      []string      `json:"hosts,omitempty"`
	SecretsDir string        `json:"secretsDir,omitempty"`
	Timeout    time.Duration `json:"evalTimeout,omitempty"`
	Memory     string        `json:"evalMemory,omitempty"`
	Output     string        `json:"evalOutput,omitempty"`
}

func newSavedConfig(cf *configFlags, args []string, hf *hostFlags) (savedConfig, error) {
	sc := savedConfig{Example: cf.example, Ref: cf.ref, TLAStr: cf.tlaStr, TLACode: cf.tlaCode, Scope: cf.scope, At: cf.at,
		Hosts: hf.hosts, SecretsDir: cf.secrets, Timeout: cf.timeout, Memory: cf.memory, Output: cf.output}
	if cf.example == "" {
		path := "."
		if len(args) > 0 {
			path = args[0]
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return sc, err
		}
		sc.Path = abs
	}
	return sc, nil
}

// flags are the configFlags, arguments and hostFlags sc was made from.
func (sc savedConfig) flags() (configFlags, []string, hostFlags) {
	cf := configFlags{example: sc.Example, ref: sc.Ref, tlaStr: sc.TLAStr, tlaCode: sc.TLACode, scope: sc.Scope, at: sc.At,
		secrets: sc.SecretsDir, timeout: sc.Timeout, memory: sc.Memory, output: sc.Output}
	var args []string
	if sc.Path != "" {
		args = []string{sc.Path}
	}
	return cf, args, hostFlags{hosts: sc.Hosts}
}

// savePlan writes the plan and its snapshot to file (mode 0600: the
// steps carry rendered file contents), atomically.
func savePlan(file string, cf *configFlags, args []string, hf *hostFlags, rev *engine.Revision, want *place.Desired, obs plan.Observed, p plan.Plan) error {
	sc, err := newSavedConfig(cf, args, hf)
	if err != nil {
		return fmt.Errorf("save plan %s: %w", file, err)
	}
	rd, err := engine.DigestRevision(rev)
	if err != nil {
		return fmt.Errorf("save plan %s: digest the configuration: %w", file, err)
	}
	sp := savedPlan{Format: planFormat, Created: time.Now().UTC(), Config: sc, Plan: p,
		Snapshot: engine.Snapshot{Revision: rd, Desired: engine.DigestDesired(want), Live: engine.DigestLive(obs)}}
	b, err := json.MarshalIndent(sp, "", "  ")
	if err != nil {
		return fmt.Errorf("save plan %s: %w", file, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".rensei-plan-*")
	if err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save plan %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save plan %s: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("save plan %s: %w", file, err)
	}
	return nil
}

// readPlan reads a saved plan, refusing anything that is not one.
func readPlan(file string) (savedPlan, error) {
	var sp savedPlan
	b, err := os.ReadFile(file)
	if err != nil {
		return sp, fmt.Errorf("saved plan: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sp); err != nil {
		return sp, fmt.Errorf("saved plan %s: not a plan written by rensei plan -out: %w", file, err)
	}
	if sp.Format != planFormat {
		return sp, fmt.Errorf("saved plan %s: format %q, want %q (written by another version of rensei?)", file, sp.Format, planFormat)
	}
	return sp, nil
}

// isPlanFile reports whether apply's argument is a file (a saved plan)
// rather than a config repository directory.
func isPlanFile(args []string) bool {
	if len(args) != 1 {
		return false
	}
	st, err := os.Stat(args[0])
	return err == nil && st.Mode().IsRegular()
}

// staleError is a saved plan that no longer matches what it was made from.
type staleError struct {
	file    string
	changes []engine.SnapshotChange
	err     error // the live state or the plan changed during apply
}

func (e staleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "saved plan %s is stale, nothing was applied", e.file)
	if e.err != nil {
		fmt.Fprintf(&b, ": %v", e.err)
	}
	if len(e.changes) > 0 {
		fmt.Fprintf(&b, "; %d change(s) since it was made:\n", len(e.changes))
		_ = render.StaleChanges(&b, e.changes)
	}
	b.WriteString("\nMake a new plan (rensei plan -out FILE) and review it.")
	return b.String()
}

// savedApply applies a saved plan.
type savedApply struct {
	g        *globals
	file     string
	parallel int
	dryRun   bool
	output   string
}

// run loads the configuration the plan names, checks that its revision,
// desired state and live state are those the plan was made from, and
// applies exactly its steps (without asking: the plan was reviewed when
// it was saved). Any difference refuses the whole plan.
func (sa savedApply) run(ctx context.Context) error {
	sp, err := readPlan(sa.file)
	if err != nil {
		return err
	}
	cf, args, hf := sp.Config.flags()
	rev, want, hosts, err := cf.connect(ctx, args, sa.g, &hf)
	if err != nil {
		return fmt.Errorf("saved plan %s: %w", sa.file, err)
	}
	defer hosts.Close()
	p, obs, settled := engine.Plan(ctx, want, hosts, cf.placer(rev))
	rd, err := engine.DigestRevision(rev)
	if err != nil {
		return fmt.Errorf("saved plan %s: digest the configuration: %w", sa.file, err)
	}
	cur := engine.Snapshot{Revision: rd, Desired: engine.DigestDesired(hosts.Only(settled)), Live: engine.DigestLive(obs)}
	if changes := sp.Snapshot.Changes(cur); len(changes) > 0 {
		return staleError{file: sa.file, changes: changes}
	}
	if !samePlan(sp.Plan, p) {
		return staleError{file: sa.file, err: errors.New("the plan computed now differs from the saved one")}
	}
	if sa.dryRun {
		err := render.Write(sa.g.stdout, sa.output, sp.Plan, func(w io.Writer) error { return render.Plan(w, sp.Plan, colour(w)) })
		if err == nil {
			fmt.Fprintf(sa.g.stderr, "Saved plan %s is current: nothing it was made from has changed. Nothing was applied (--dry-run).\n", sa.file)
		}
		return err
	}
	if sa.output == render.Text {
		if err := render.Plan(sa.g.stdout, sp.Plan, colour(sa.g.stdout)); err != nil {
			return err
		}
	}
	// The live state is observed again by the pass itself: the guard
	// refuses the plan if anything changed in between.
	guard := func(now plan.Plan, obs plan.Observed) (plan.Plan, error) {
		live := engine.DigestLive(obs)
		if live.Hash != sp.Snapshot.Live.Hash {
			then := engine.Snapshot{Live: sp.Snapshot.Live}
			return now, staleError{file: sa.file, changes: then.Changes(engine.Snapshot{Live: live})}
		}
		if !samePlan(sp.Plan, now) {
			return now, staleError{file: sa.file, err: errors.New("the plan computed now differs from the saved one")}
		}
		return now, nil
	}
	return passRun{g: sa.g, rev: rev, cf: &cf, parallel: sa.parallel, output: sa.output, guard: guard}.run(ctx, want, hosts)
}

// samePlan reports whether two plans have the same steps and notes.
func samePlan(a, b plan.Plan) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// outputFlag is -o/--output. pflag reads Terraform's "-out FILE" as -o
// with the value "ut" (and "-out=FILE" as "ut=FILE"), so those values
// mean -out: the file follows "=", or is the next positional argument
// (whose index is recorded while the flags are parsed).
type outputFlag struct {
	format string
	out    string
	flags  interface{ Args() []string } // the command's flag set, parsing
	at     int                          // index of -out's file among the positional arguments; -1: none pending
}

func (o *outputFlag) String() string { return o.format }
func (o *outputFlag) Type() string   { return "string" }

func (o *outputFlag) Set(v string) error {
	switch {
	case v == "ut":
		o.at = len(o.flags.Args())
	case strings.HasPrefix(v, "ut="):
		o.out = strings.TrimPrefix(v, "ut=")
	default:
		o.format = v
	}
	return nil
}

func (o *outputFlag) register(cmd *cobra.Command, usage string) {
	o.flags, o.at = cmd.Flags(), -1
	cmd.Flags().VarP(o, "output", "o", usage)
}

// takeOut removes the file of "-out FILE" from the positional arguments.
func (o *outputFlag) takeOut(args []string) ([]string, error) {
	if o.at < 0 {
		return args, nil
	}
	if o.at >= len(args) {
		return nil, errors.New("-out: give the file to save the plan to")
	}
	o.out = args[o.at]
	rest := append([]string{}, args[:o.at]...)
	return append(rest, args[o.at+1:]...), nil
}
