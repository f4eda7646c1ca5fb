package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
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
	// Trace keeps the frames of Rensei's embedded library in the stack
	// traces of evaluation errors (rensei --trace); without it only the
	// frames in the repository's own files are shown.
	Trace bool
	// Cache, when set, answers files that did not change since it last
	// saw them (see FileCache): incremental evaluation.
	Cache FileCache
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
//
// Files under environments/ named *.libsonnet are not loaded: they are the
// helpers that environment files import.
func Load(fsys fs.FS, opts Options) (*Topology, error) {
	im := newImporter(fsys)
	l := &loader{opts: opts, im: im, lc: newLocator(im)}
	topo := l.load(fsys)
	// Validate what did load, so one broken file does not hide the
	// problems of the others; references to sites of a site file that
	// failed are not reported as unknown.
	problems := l.problems
	if verr := validateWith(topo, &l.refs); verr != nil {
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

// Evaluate evaluates one Jsonnet file of a repository as Load does (the
// same imports, embedded library, native functions and bounds) and
// returns its JSON, for tools that check Jsonnet which is not a site or an
// environment (documentation examples, say). An error is Problems.
func Evaluate(fsys fs.FS, file string, opts Options) (json.RawMessage, error) {
	im := newImporter(fsys)
	l := &loader{opts: opts, im: im, lc: newLocator(im)}
	l.vm = l.newVM()
	out, ok := l.evaluate(file)
	if !ok {
		return nil, l.problems.Err()
	}
	return out, nil
}

type loader struct {
	opts         Options
	siteFailed   bool  // a site file did not evaluate or decode
	policyFailed bool  // a policy file did not decode
	total        int64 // bytes of JSON evaluated so far
	im           *importer
	lc           *locator
	vm           *jsonnet.VM
	problems     Problems
	refs         sources
}

// sources says where each object of a loaded topology came from, by index:
// what validation needs to place a problem at the value that caused it.
type sources struct {
	lc      *locator
	sites   []*itemRef
	envs    []*itemRef
	tenants []*itemRef
	policy  *itemRef
}

// itemRef is where one item of a file's output (a site, an environment, a
// policy) came from.
type itemRef struct {
	file   string
	output any   // the file's output: json.RawMessage, or its elements
	base   vpath // the item's path in the output
	// groups are the keys of an environment whose groups were given as an
	// object keyed by name, in the order of the decoded list.
	groups []string
	// broken are the values (paths relative to the item) that did not
	// decode: problems that follow from them are not reported again.
	broken []vpath
}

// show is how a path inside the item is written in messages: groups
// given by name are named.
func (r *itemRef) show(p vpath) vpath {
	if r.groups == nil || len(p) < 2 || p[0] != "groups" {
		return p
	}
	i, ok := p[1].(int)
	if !ok || i < 0 || i >= len(r.groups) {
		return p
	}
	return vpath{"groups", r.groups[i]}.join(p[2:]...)
}

// suppressed reports whether a problem at p follows from a value that did
// not decode: p is inside it, or is an object containing it.
func (r *itemRef) suppressed(p vpath) bool {
	for _, b := range r.broken {
		if p.hasPrefix(b) || b.hasPrefix(p) {
			return true
		}
	}
	return false
}

// find is where the value at p (relative to the item) was written.
func (lc *locator) at(r *itemRef, p vpath) pos {
	return lc.find(r.file, r.output, r.base.join(r.show(p)...))
}

func (l *loader) load(fsys fs.FS) *Topology {
	topo := &Topology{Sites: []Site{}, Environments: []Environment{}}
	l.refs.lc = l.lc
	siteFiles, err := fs.Glob(fsys, "sites/*.jsonnet")
	if err != nil || len(siteFiles) == 0 {
		l.problems = append(l.problems, Problem{File: "sites/", Msg: "no site definitions: expected sites/*.jsonnet"})
	}
	var envFiles []string
	err = fs.WalkDir(fsys, "environments", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// *.libsonnet files are helpers that environments import.
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
		for _, it := range l.items(f, "a site") {
			var s Site
			l.decode(it, &s)
			s.Source = Source{File: f, Line: l.lc.at(it, vpath{"name"}).Line}
			topo.Sites = append(topo.Sites, s)
			l.refs.sites = append(l.refs.sites, it)
		}
	}
	l.siteFailed = len(l.problems) > 0
	topo.Policy = l.loadPolicy(fsys)
	for _, f := range envFiles {
		for _, it := range l.items(f, "an environment") {
			var e Environment
			l.decode(it, &e)
			e.Source = Source{File: f, Line: l.lc.at(it, vpath{"name"}).Line}
			topo.Environments = append(topo.Environments, e)
			l.refs.envs = append(l.refs.envs, it)
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
		for _, it := range l.items(f, "a policy") {
			var p Policy
			if !l.decode(it, &p) {
				l.policyFailed = true
			}
			src := Source{File: f, Line: l.lc.at(it, nil).Line}
			for _, field := range []string{"deployment", "tenants", "defaults"} {
				if sub(subPath(it.output, it.base), field) != nil {
					src.Line = l.lc.at(it, vpath{field}).Line
					break
				}
			}
			if p.Deployment != "" {
				if out.Deployment != "" {
					l.problems = append(l.problems, Problem{File: f, Line: l.lc.at(it, vpath{"deployment"}).Line, Msg: fmt.Sprintf("policy: deployment %q is also given by %s", p.Deployment, out.Source.File)})
				}
				out.Deployment, out.Source = p.Deployment, src
				l.refs.policy = it
			}
			if p.Defaults != (Defaults{}) {
				if out.Defaults != (Defaults{}) {
					l.problems = append(l.problems, Problem{File: f, Line: l.lc.at(it, vpath{"defaults"}).Line, Msg: "policy: defaults are given in more than one file"})
				}
				out.Defaults = p.Defaults
			}
			for i, t := range p.Tenants {
				ref := &itemRef{file: it.file, output: it.output, base: it.base.join("tenants", i)}
				for _, b := range it.broken {
					if b.hasPrefix(vpath{"tenants", i}) {
						ref.broken = append(ref.broken, b[2:])
					}
				}
				t.Source = Source{File: f, Line: l.lc.at(ref, vpath{"name"}).Line}
				out.Tenants = append(out.Tenants, t)
				l.refs.tenants = append(l.refs.tenants, ref)
			}
			if out.Source.File == "" {
				out.Source = src
				l.refs.policy = it
			}
		}
	}
	if len(out.Tenants) == 0 {
		// A policy that only names the deployment or sets defaults keeps
		// the one default tenant.
		out.Tenants = DefaultPolicy().Tenants
		l.refs.tenants = nil
	}
	return out
}

// subPath is the value at p of an output.
func subPath(val any, p vpath) any {
	for _, s := range p {
		val = sub(val, s)
	}
	return val
}

// newVM makes the one VM used for every file of a revision, so imports are
// parsed once.
func (l *loader) newVM() *jsonnet.VM {
	vm := jsonnet.MakeVM()
	vm.Importer(l.im)
	registerNatives(vm)
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

// items evaluates one file and splits its output: an object is one item,
// an array is one item per element. Anything else, or an array with
// anything but objects, is one problem naming what the file evaluated to
// (what is "a site", "an environment").
func (l *loader) items(file, what string) []*itemRef {
	out, ok := l.evaluateCached(file)
	if !ok {
		return nil
	}
	notItem := func() []*itemRef {
		msg := fmt.Sprintf("evaluates to %s, not %s or an array of them", describe(out), what)
		if strings.HasPrefix(file, "environments/") {
			msg += " (helper files under environments/ are named *.libsonnet, which are not loaded)"
		}
		l.problems = append(l.problems, Problem{File: file, Line: l.lc.find(file, out, nil).Line, Msg: msg})
		return nil
	}
	switch out[0] {
	case '{':
		return []*itemRef{{file: file, output: out}}
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(out, &elems); err != nil {
			l.problems = append(l.problems, Problem{File: file, Msg: err.Error()})
			return nil
		}
		refs := make([]*itemRef, len(elems))
		for i, e := range elems {
			if e = bytes.TrimSpace(e); len(e) == 0 || e[0] != '{' {
				return notItem()
			}
			refs[i] = &itemRef{file: file, output: elems, base: vpath{i}}
		}
		return refs
	}
	return notItem()
}

// evaluate runs one file and returns its JSON. A timed-out evaluation is
// abandoned: go-jsonnet cannot be interrupted, so its goroutine runs on
// until it ends.
func (l *loader) evaluate(file string) (json.RawMessage, bool) {
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
		// ImportAST and Evaluate, not EvaluateFile: the errors keep their
		// types (locations, stack frames) instead of being formatted.
		node, _, err := vm.ImportAST("", file)
		if err != nil {
			done <- result{"", err}
			return
		}
		out, err := vm.Evaluate(node)
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
		return nil, false
	}
	if r.err != nil {
		l.problems = append(l.problems, l.evalProblem(file, r.err))
		return nil, false
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
		return nil, false
	case l.total > maxTotal:
		l.problems = append(l.problems, Problem{File: file, Msg: fmt.Sprintf("the configuration evaluates to more than %d MiB of JSON with this file", maxTotal>>20)})
		return nil, false
	}
	out := bytes.TrimSpace([]byte(r.out))
	if len(out) == 0 {
		l.problems = append(l.problems, Problem{File: file, Msg: "evaluates to nothing"})
		return nil, false
	}
	return out, true
}

// decode unmarshals one item strictly: every unknown field and every value
// of the wrong type is a problem at the value's place, and the rest of the
// item is decoded (and validated) all the same. It reports whether the
// item decoded whole.
func (l *loader) decode(it *itemRef, into any) bool {
	raw, _ := subPath(it.output, it.base).(json.RawMessage)
	if _, isEnv := into.(*Environment); isEnv {
		raw = l.groupsByName(it, raw)
	}
	errs := decodeStrict(raw, into, it.show)
	for _, e := range errs {
		it.broken = append(it.broken, e.path)
		l.problems = append(l.problems, Problem{File: it.file, Line: l.lc.at(it, e.path).Line, Path: it.show(e.path).String(), Msg: e.msg})
	}
	return len(errs) == 0
}

// groupsByName turns an environment's groups given as an object keyed by
// name (groups: { ws: {...}, www: {...} }, changeable with groups+: { ws+:
// {...} }) into the list the schema holds, ordered by name (Jsonnet
// outputs an object's fields sorted, so that is the only order there is).
// A group's name is its key; a name that differs from the key is a problem.
func (l *loader) groupsByName(it *itemRef, raw json.RawMessage) json.RawMessage {
	var env map[string]json.RawMessage
	if json.Unmarshal(raw, &env) != nil {
		return raw
	}
	g := bytes.TrimSpace(env["groups"])
	if len(g) == 0 || g[0] != '{' {
		return raw
	}
	var byName map[string]json.RawMessage
	if json.Unmarshal(g, &byName) != nil {
		return raw
	}
	keys := make([]string, 0, len(byName))
	for k := range byName {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	list := make([]json.RawMessage, len(keys))
	for i, k := range keys {
		list[i] = byName[k]
		var group map[string]json.RawMessage
		if json.Unmarshal(byName[k], &group) != nil {
			continue // not an object: the decoder says so
		}
		var name string
		switch n, ok := group["name"]; {
		case !ok:
			group["name"], _ = json.Marshal(k)
			list[i], _ = json.Marshal(group)
		case json.Unmarshal(n, &name) == nil && name != k:
			p := vpath{"groups", k, "name"}
			l.problems = append(l.problems, Problem{File: it.file, Line: l.lc.find(it.file, it.output, it.base.join(p...)).Line, Path: p.String(),
				Msg: fmt.Sprintf("group %q is named %q: in groups given by name the key is the name (drop name, or make them equal)", k, name)})
		}
	}
	env["groups"], _ = json.Marshal(list)
	it.groups = keys
	out, err := json.Marshal(env)
	if err != nil {
		return raw
	}
	return out
}
