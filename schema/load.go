package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-jsonnet"
)

// Options tune loading. The zero value is usable.
type Options struct {
	// TLAStr and TLACode are top-level arguments, given to every file whose
	// top-level value is a function (strings, and Jsonnet code respectively).
	TLAStr  map[string]string
	TLACode map[string]string
	// MaxStack bounds Jsonnet's stack depth (default 500).
	MaxStack int
	// Timeout bounds each file's evaluation (default 30s).
	Timeout time.Duration
	// MaxOutput bounds the JSON one file evaluates to, in bytes (default
	// DefaultMaxOutput), and MaxTotalOutput all files together.
	MaxOutput      int64
	MaxTotalOutput int64
	// OnFile, when set, is told each file before it is evaluated (the
	// evaluating process names the file a bound stops).
	OnFile func(file string)
}

// Default bounds on what a configuration evaluates to.
const (
	DefaultMaxOutput      = 64 << 20
	DefaultMaxTotalOutput = 256 << 20
)

// DefaultTimeout bounds one file's evaluation when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Load evaluates a config repository (sites/*.jsonnet and
// environments/**/*.jsonnet; lib/ and vendor/ on the import path) and
// returns its validated topology. fsys is rooted at the repository: a
// directory (os.DirFS) or a Git tree. On any configuration error Load
// returns Problems listing every error found, each with file and line.
func Load(fsys fs.FS, opts Options) (*Topology, error) {
	l := &loader{opts: opts, im: newImporter(fsys)}
	topo := l.load(fsys)
	// Validate what did load, so one broken file does not hide the
	// problems of the others; references to sites of a site file that
	// failed are not reported as unknown.
	problems := l.problems
	if verr := validateWith(topo, l.im.files); verr != nil {
		for _, p := range verr.(Problems) {
			if l.siteFailed && (strings.Contains(p.Msg, "unknown site") || strings.Contains(p.Msg, "no host matches")) {
				continue
			}
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return nil, problems.Err()
	}
	return topo, nil
}

type loader struct {
	opts         Options
	siteFailed   bool  // a site file did not evaluate or decode
	policyFailed bool  // a policy file did not decode
	total        int64 // bytes of JSON evaluated so far
	im           *importer
	vm           *jsonnet.VM
	problems     Problems
}

func (l *loader) load(fsys fs.FS) *Topology {
	topo := &Topology{Sites: []Site{}, Environments: []Environment{}}
	siteFiles, err := fs.Glob(fsys, "sites/*.jsonnet")
	if err != nil || len(siteFiles) == 0 {
		l.problems = append(l.problems, Problem{File: "sites/", Msg: "no site definitions: expected sites/*.jsonnet"})
	}
	var envFiles []string
	err = fs.WalkDir(fsys, "environments", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".jsonnet") {
			envFiles = append(envFiles, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.problems = append(l.problems, Problem{File: "environments/", Msg: err.Error()})
	}
	sort.Strings(siteFiles)
	sort.Strings(envFiles)

	l.vm = l.newVM()
	for _, f := range siteFiles {
		for _, raw := range l.evaluate(f) {
			var s Site
			if l.decode(f, raw, &s) {
				s.Source = Source{File: f, Line: findLine(l.im.source(f), s.Name, "name")}
				topo.Sites = append(topo.Sites, s)
			}
		}
	}
	l.siteFailed = len(l.problems) > 0
	topo.Policy = l.loadPolicy(fsys)
	for _, f := range envFiles {
		for _, raw := range l.evaluate(f) {
			var e Environment
			if l.decode(f, raw, &e) {
				e.Source = Source{File: f, Line: findLine(l.im.source(f), e.Name, "name")}
				topo.Environments = append(topo.Environments, e)
			}
		}
	}
	return topo
}

// loadPolicy reads policy/*.jsonnet: each file yields a policy object (or
// an array of them) with some of its fields; tenants add up, the
// deployment and the defaults may be given once. Without policy files it
// returns DefaultPolicy.
func (l *loader) loadPolicy(fsys fs.FS) *Policy {
	files, _ := fs.Glob(fsys, "policy/*.jsonnet")
	if len(files) == 0 {
		return DefaultPolicy()
	}
	sort.Strings(files)
	out := &Policy{}
	for _, f := range files {
		for _, raw := range l.evaluate(f) {
			var p Policy
			if !l.decode(f, raw, &p) {
				l.policyFailed = true
				continue
			}
			src := Source{File: f, Line: findLine(l.im.source(f), "deployment", "tenants", "defaults")}
			if p.Deployment != "" {
				if out.Deployment != "" {
					l.problems = append(l.problems, Problem{File: f, Line: src.Line, Msg: fmt.Sprintf("policy: deployment %q is also given by %s", p.Deployment, out.Source.File)})
				}
				out.Deployment, out.Source = p.Deployment, src
			}
			if p.Defaults != (Defaults{}) {
				if out.Defaults != (Defaults{}) {
					l.problems = append(l.problems, Problem{File: f, Line: src.Line, Msg: "policy: defaults are given in more than one file"})
				}
				out.Defaults = p.Defaults
			}
			for _, t := range p.Tenants {
				t.Source = Source{File: f, Line: findLine(l.im.source(f), t.Name, "name")}
				out.Tenants = append(out.Tenants, t)
			}
			if out.Source.File == "" {
				out.Source = src
			}
		}
	}
	if len(out.Tenants) == 0 {
		// A policy that only names the deployment or sets defaults keeps
		// the one default tenant.
		out.Tenants = DefaultPolicy().Tenants
	}
	return out
}

// newVM makes the one VM used for every file of a revision, so imports are
// parsed once.
func (l *loader) newVM() *jsonnet.VM {
	vm := jsonnet.MakeVM()
	vm.Importer(l.im)
	vm.MaxStack = l.opts.MaxStack
	if vm.MaxStack <= 0 {
		vm.MaxStack = 500
	}
	for k, v := range l.opts.TLAStr {
		vm.TLAVar(k, v)
	}
	for k, v := range l.opts.TLACode {
		vm.TLACode(k, v)
	}
	return vm
}

// evaluate runs one file and splits its output: an object is one item, an
// array is one item per element. A timed-out evaluation is abandoned:
// go-jsonnet cannot be interrupted, so its goroutine runs on until it ends.
func (l *loader) evaluate(file string) []json.RawMessage {
	if l.opts.OnFile != nil {
		l.opts.OnFile(file)
	}
	vm := l.vm
	timeout := l.opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := vm.EvaluateFile(file)
		done <- result{out, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(timeout):
		l.problems = append(l.problems, Problem{File: file, Msg: fmt.Sprintf("evaluation did not finish within %s", timeout)})
		// The abandoned evaluation still uses its VM (whose caches are not
		// safe for concurrent use): the next files get a fresh one.
		l.vm = l.newVM()
		return nil
	}
	if r.err != nil {
		l.problems = append(l.problems, jsonnetProblem(file, r.err))
		return nil
	}
	maxOut, maxTotal := l.opts.MaxOutput, l.opts.MaxTotalOutput
	if maxOut <= 0 {
		maxOut = DefaultMaxOutput
	}
	if maxTotal <= 0 {
		maxTotal = DefaultMaxTotalOutput
	}
	l.total += int64(len(r.out))
	switch {
	case int64(len(r.out)) > maxOut:
		l.problems = append(l.problems, Problem{File: file, Msg: fmt.Sprintf("evaluates to %d MiB of JSON, more than the %d MiB a file may (--eval-output)", len(r.out)>>20, maxOut>>20)})
		return nil
	case l.total > maxTotal:
		l.problems = append(l.problems, Problem{File: file, Msg: fmt.Sprintf("the configuration evaluates to more than %d MiB of JSON with this file", maxTotal>>20)})
		return nil
	}
	out := bytes.TrimSpace([]byte(r.out))
	if len(out) > 0 && out[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(out, &items); err != nil {
			l.problems = append(l.problems, Problem{File: file, Msg: err.Error()})
			return nil
		}
		return items
	}
	if len(out) == 0 || out[0] != '{' {
		l.problems = append(l.problems, Problem{File: file, Msg: "must evaluate to an object or an array of objects"})
		return nil
	}
	return []json.RawMessage{out}
}

// decode unmarshals one item strictly: unknown fields and wrong types are problems.
func (l *loader) decode(file string, raw json.RawMessage, into any) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(into)
	if err == nil {
		return true
	}
	p := Problem{File: file, Msg: err.Error()}
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		p.Path = typeErr.Field
		p.Msg = fmt.Sprintf("%s: expected %s, got %s", typeErr.Field, typeErr.Type, typeErr.Value)
		p.Line = findLine(l.im.source(file), lastField(typeErr.Field))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		p.Msg = fmt.Sprintf("unknown field %q", field)
		p.Line = findLine(l.im.source(file), field)
	}
	l.problems = append(l.problems, p)
	return false
}

func lastField(jsonPath string) string {
	if i := strings.LastIndex(jsonPath, "."); i >= 0 {
		return jsonPath[i+1:]
	}
	return jsonPath
}

// jsonnetLoc matches the first "file:line:col" in a go-jsonnet error.
var jsonnetLoc = regexp.MustCompile(`([^\s:()]+\.(?:jsonnet|libsonnet|json|csv|txt)):(\d+):\d+`)

// jsonnetProblem turns a formatted go-jsonnet error into a Problem at the
// first location the error names.
func jsonnetProblem(file string, err error) Problem {
	msg := strings.TrimSpace(err.Error())
	p := Problem{File: file}
	// The first location in the user's own files: a frame inside the
	// embedded library says where a helper failed, not what to fix.
	for _, m := range jsonnetLoc.FindAllStringSubmatch(msg, -1) {
		if !strings.HasPrefix(m[1], LibPrefix) {
			p.File = m[1]
			p.Line, _ = strconv.Atoi(m[2])
			break
		}
	}
	lines := strings.Split(msg, "\n")
	first := strings.TrimSpace(lines[0])
	// A static error starts with its own location; drop it, Problem prints one.
	if loc := jsonnetLoc.FindStringIndex(first); loc != nil && loc[0] == 0 {
		first = strings.TrimSpace(strings.TrimLeft(first[loc[1]:], "-0123456789:()"))
	}
	p.Msg = first
	if p.File != file {
		p.Msg += " (evaluating " + file + ")"
	}
	// Keep a short trace for runtime errors: it is what finds the cause.
	var frames []string
	for _, l := range lines[1:] {
		if l = strings.TrimSpace(l); l != "" && len(frames) < 4 {
			frames = append(frames, l)
		}
	}
	if len(frames) > 1 {
		p.Msg += "\n\t" + strings.Join(frames, "\n\t")
	}
	return p
}
