package schema

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
)

// FileCache keeps what files evaluated to between loads (Options.Cache),
// so that a revision changing one file evaluates only the files that
// depend on it. The loader names each file by a key (FileKeys) that
// changes whenever the file, anything it imports (transitively: import,
// importstr, importbin, resolved as at this revision) or the top-level
// arguments change; the same key means the same output.
//
// Get answers a file the loader is about to evaluate (key is "" when the
// file cannot have one): its JSON (found), or the problems its
// evaluation had (found, problems not empty; what an evaluator elsewhere,
// a bounded child process, reported), or not found, and then the loader
// evaluates it and calls Put with the JSON when the evaluation succeeded
// and the key is not "". Implementations must be safe for concurrent use.
type FileCache interface {
	Get(file, key string) (out json.RawMessage, problems Problems, found bool)
	Put(file, key string, out json.RawMessage)
}

// FileKeys returns the cache key of each file the loader evaluates in
// fsys (sites, policy and environment files), by path. A file whose
// imports cannot be resolved or parsed has the key "": it cannot be
// cached (it is evaluated, and its problem reported, every time).
func FileKeys(fsys fs.FS, opts Options) map[string]string {
	im := newImporter(fsys)
	l := &loader{opts: opts, im: im, lc: newLocator(im)}
	l.vm = l.newVM()
	keys := map[string]string{}
	for _, f := range loadedFiles(fsys) {
		keys[f], _ = l.fileKey(f)
	}
	return keys
}

// FileResult is what evaluating one file gave: its JSON, or its problems.
type FileResult struct {
	JSON     json.RawMessage `json:"json,omitempty"`
	Problems Problems        `json:"problems,omitempty"`
}

// EvaluateFiles evaluates files of fsys as Load does (one VM, the same
// imports, natives and bounds), without decoding or validating them: what
// a bounded process evaluates for a loader whose FileCache answers the
// rest.
func EvaluateFiles(fsys fs.FS, files []string, opts Options) map[string]FileResult {
	im := newImporter(fsys)
	l := &loader{opts: opts, im: im, lc: newLocator(im)}
	l.vm = l.newVM()
	out := make(map[string]FileResult, len(files))
	for _, f := range files {
		before := len(l.problems)
		js, ok := l.evaluate(f)
		if ok {
			out[f] = FileResult{JSON: js}
		} else {
			out[f] = FileResult{Problems: slices.Clone(l.problems[before:])}
		}
	}
	return out
}

// loadedFiles lists the files Load evaluates: sites/*.jsonnet,
// policy/*.jsonnet and environments/**/*.jsonnet.
func loadedFiles(fsys fs.FS) []string {
	sites, _ := fs.Glob(fsys, "sites/*.jsonnet")
	policy, _ := fs.Glob(fsys, "policy/*.jsonnet")
	var envs []string
	_ = fs.WalkDir(fsys, "environments", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".jsonnet") {
			envs = append(envs, p)
		}
		return nil
	})
	out := slices.Concat(sites, policy, envs)
	sort.Strings(out)
	return out
}

// fileKey is the key of file: a digest of the evaluation's inputs, its
// content and that of its import closure as resolved in this revision,
// and the top-level arguments.
func (l *loader) fileKey(file string) (string, bool) {
	deps, err := l.vm.FindDependencies("", []string{file})
	if err != nil {
		return "", false
	}
	h := sha256.New()
	add := func(name string) bool {
		c := l.im.read(name)
		if c.err != nil {
			return false
		}
		data := l.im.source(name)
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(data))
		h.Write(data)
		return true
	}
	if !add(file) {
		return "", false
	}
	for _, d := range deps {
		if !add(d) {
			return "", false
		}
	}
	for _, m := range []map[string]string{l.opts.TLAStr, l.opts.TLACode} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "tla\x00%s\x00%d\x00%s", k, len(m[k]), m[k])
		}
		h.Write([]byte{0xff})
	}
	fmt.Fprintf(h, "stack\x00%d", l.opts.MaxStack)
	return hex.EncodeToString(h.Sum(nil)), true
}

// evaluateCached is evaluate, answered by Options.Cache when it knows the
// file as it is in this revision.
func (l *loader) evaluateCached(file string) (json.RawMessage, bool) {
	c := l.opts.Cache
	if c == nil {
		return l.evaluate(file)
	}
	// Asked even without a key: a cache fed by another evaluator knows
	// every file by name.
	key, _ := l.fileKey(file)
	out, problems, found := c.Get(file, key)
	switch {
	case !found:
		out, ok := l.evaluate(file)
		if ok && key != "" {
			c.Put(file, key, out)
		}
		return out, ok
	case len(problems) > 0:
		l.problems = append(l.problems, problems...)
		return nil, false
	}
	// What evaluate checks of an evaluation's output, checked again: the
	// total bounds the whole revision, whatever was cached.
	maxTotal := l.opts.MaxTotalOutput
	if maxTotal <= 0 {
		maxTotal = DefaultMaxTotalOutput
	}
	if l.total += int64(len(out)); l.total > maxTotal {
		l.problems = append(l.problems, Problem{File: file, Msg: fmt.Sprintf("the configuration evaluates to more than %d MiB of JSON with this file", maxTotal>>20)})
		return nil, false
	}
	return out, true
}
