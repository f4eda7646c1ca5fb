package engine

import (
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/rensei-dev/rensei/schema"
)

// Incremental evaluation: a revision that changes one file evaluates only
// the files whose content or import closure changed since a revision
// evaluated before (schema.FileKeys names each file by the content of
// everything that goes into it); every other file's JSON comes from an
// EvalCache. Decoding, validation and placement still see the whole
// revision, so the result is the same as a full evaluation.

// DefaultEvalCacheBytes bounds an EvalCache by default.
const DefaultEvalCacheBytes = 256 << 20

// EvalCache is what files evaluated to, by key (schema.FileCache), in
// memory, bounded in bytes: the least recently used outputs go first. It
// is safe for concurrent use.
type EvalCache struct {
	max int64

	mu    sync.Mutex
	size  int64
	byKey map[string]*list.Element
	lru   *list.List // front: most recently used; values are *evalEntry

	hits, misses atomic.Int64
}

type evalEntry struct {
	key string
	out json.RawMessage
}

// NewEvalCache returns an empty cache holding at most maxBytes of JSON
// (DefaultEvalCacheBytes when 0).
func NewEvalCache(maxBytes int64) *EvalCache {
	if maxBytes <= 0 {
		maxBytes = DefaultEvalCacheBytes
	}
	return &EvalCache{max: maxBytes, byKey: map[string]*list.Element{}, lru: list.New()}
}

// EvalStats counts an EvalCache's answers.
type EvalStats struct {
	Hits   int64 `json:"hits"`   // files answered from the cache
	Misses int64 `json:"misses"` // files evaluated
	Bytes  int64 `json:"bytes"`  // JSON held
}

// Stats returns the counters so far.
func (c *EvalCache) Stats() EvalStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return EvalStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Bytes: c.size}
}

// Get implements schema.FileCache.
func (c *EvalCache) Get(_, key string) (json.RawMessage, schema.Problems, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok && key != "" {
		c.lru.MoveToFront(el)
		c.hits.Add(1)
		return el.Value.(*evalEntry).out, nil, true
	}
	c.misses.Add(1)
	return nil, nil, false
}

// Put implements schema.FileCache.
func (c *EvalCache) Put(_, key string, out json.RawMessage) {
	if key == "" || int64(len(out)) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; ok {
		return
	}
	c.byKey[key] = c.lru.PushFront(&evalEntry{key: key, out: out})
	c.size += int64(len(out))
	for c.size > c.max {
		last := c.lru.Back()
		e := last.Value.(*evalEntry)
		c.lru.Remove(last)
		delete(c.byKey, e.key)
		c.size -= int64(len(e.out))
	}
}

// Incremental is an Evaluator that keeps what each file evaluated to in
// Cache and evaluates again only the files of a revision that changed
// (their content, or that of anything they import). With Child.Exe set
// those files are evaluated in a child process with Child's bounds on
// time, memory and output (`Exe __evaluate-files`), and nothing of the
// configuration is evaluated in this process; otherwise in this process.
// A source the child cannot read (no GitDir and Commit, no Dir) is
// evaluated as Child would.
type Incremental struct {
	Child Child
	Cache *EvalCache
}

// NewIncremental returns an Incremental evaluator with a fresh cache of
// DefaultEvalCacheBytes: what `rensei daemon` uses, child being the
// evaluator it used before (engine.Child).
func NewIncremental(child Child) Incremental {
	return Incremental{Child: child, Cache: NewEvalCache(0)}
}

// Evaluate loads src, evaluating only what the cache does not know.
func (i Incremental) Evaluate(ctx context.Context, src Source, opts schema.Options) (*schema.Topology, error) {
	if i.Cache == nil {
		if i.Child.Exe == "" {
			return InProcess{}.Evaluate(ctx, src, opts)
		}
		return i.Child.Evaluate(ctx, src, opts)
	}
	if i.Child.Exe == "" {
		opts.Cache = i.Cache
		return schema.Load(src.FS, opts)
	}
	if src.Dir == "" && (src.GitDir == "" || src.Commit == "") {
		return i.Child.Evaluate(ctx, src, opts)
	}
	keys := schema.FileKeys(src.FS, opts)
	known := map[string]json.RawMessage{}
	var todo []string
	for f, k := range keys {
		if out, ok := i.Cache.peek(k); ok {
			known[f] = out
		} else {
			todo = append(todo, f)
		}
	}
	sort.Strings(todo)
	i.Cache.hits.Add(int64(len(known)))
	i.Cache.misses.Add(int64(len(todo)))
	var fresh map[string]schema.FileResult
	if len(todo) > 0 {
		var err error
		if fresh, err = i.Child.evaluateFiles(ctx, src, todo, opts); err != nil {
			return nil, err
		}
	}
	opts.Cache = &childView{cache: i.Cache, known: known, fresh: fresh}
	return schema.Load(src.FS, opts)
}

// peek returns the output of key, without counting.
func (c *EvalCache) peek(key string) (json.RawMessage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok || key == "" {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*evalEntry).out, true
}

// childView answers the loader for one revision: the files the child just
// evaluated, the rest from the cache. It never lets the loader evaluate a
// file in this process: a file neither knows is a problem.
type childView struct {
	cache *EvalCache
	known map[string]json.RawMessage // unchanged files, as the cache had them
	fresh map[string]schema.FileResult
}

func (v *childView) Get(file, key string) (json.RawMessage, schema.Problems, bool) {
	if r, ok := v.fresh[file]; ok {
		if len(r.Problems) == 0 {
			v.cache.Put(file, key, r.JSON)
		}
		return r.JSON, r.Problems, true
	}
	if out, ok := v.known[file]; ok {
		return out, nil, true
	}
	return nil, schema.Problems{{File: file, Msg: "not evaluated: the file changed while the revision was read (evaluate it again)"}}, true
}

func (v *childView) Put(file, key string, out json.RawMessage) { v.cache.Put(file, key, out) }

// filesAnswer is the child's answer to __evaluate-files: each file's JSON
// or problems, or problems of the whole evaluation (a bound it hit).
type filesAnswer struct {
	Files    map[string]schema.FileResult `json:"files,omitempty"`
	Problems schema.Problems              `json:"problems,omitempty"`
}

// ServeFiles is the child's side of __evaluate-files: it evaluates files
// of src in process and writes the answer to w.
func ServeFiles(w io.Writer, src Source, files []string, opts schema.Options) error {
	return json.NewEncoder(w).Encode(filesAnswer{Files: schema.EvaluateFiles(src.FS, files, opts)})
}

// evaluateFiles runs `Exe __evaluate-files` on files of src with c's
// bounds, as Evaluate runs `Exe __evaluate` on the whole revision.
func (c Child) evaluateFiles(ctx context.Context, src Source, files []string, opts schema.Options) (map[string]schema.FileResult, error) {
	extra := make([]string, 0, 2*len(files))
	for _, f := range files {
		extra = append(extra, "--file", f)
	}
	answer, err := c.run(ctx, src, opts, "__evaluate-files", extra)
	if err != nil {
		return nil, err
	}
	var ans filesAnswer
	if err := json.Unmarshal(answer, &ans); err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", src.Name, err)
	}
	if len(ans.Problems) > 0 {
		return nil, ans.Problems
	}
	return ans.Files, nil
}
