package schema

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"

	"github.com/google/go-jsonnet/ast"
	"github.com/google/go-jsonnet/formatter"
)

// Jsonnet's output carries no positions, so where a value was written is
// found in go-jsonnet's own syntax tree: the value at a JSON path is
// followed from the file's top-level expression through object fields,
// array elements, locals, object merges (+), imports and function calls
// (arguments bound to parameters), until the literal that produced it.
// What cannot be followed without evaluating (a condition, a standard
// library call, a comprehension's variable) stops the walk at the nearest
// enclosing expression whose position is known. Positions inside Rensei's
// embedded library are never reported: a value a library function made is
// placed at the call in the user's file.

// vpath addresses a value in a file's evaluated JSON: field names (string)
// and array indices (int), outermost first.
type vpath []any

// String renders p as "groups[1].image".
func (p vpath) String() string {
	var b strings.Builder
	for _, s := range p {
		switch s := s.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(s) + "]")
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s)
		}
	}
	return b.String()
}

// join returns p followed by q, sharing nothing with either.
func (p vpath) join(q ...any) vpath {
	out := make(vpath, 0, len(p)+len(q))
	return append(append(out, p...), q...)
}

// hasPrefix reports whether q is a prefix of p.
func (p vpath) hasPrefix(q vpath) bool {
	if len(q) > len(p) {
		return false
	}
	for i := range q {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// pos is a place in a user's file.
type pos struct {
	File string
	Line int
}

// locator finds where values of evaluated files were written. It parses
// each file once (go-jsonnet's formatter parser: the syntax tree as
// written, before desugaring). Safe for concurrent use.
type locator struct {
	im *importer

	mu   sync.Mutex
	asts map[string]ast.Node // nil: the file does not parse
}

func newLocator(im *importer) *locator {
	return &locator{im: im, asts: map[string]ast.Node{}}
}

// tree returns the syntax tree of a file the importer has read, or nil.
func (lc *locator) tree(file string) ast.Node {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if n, ok := lc.asts[file]; ok {
		return n
	}
	var n ast.Node
	if src := lc.im.read(file); src.err == nil {
		n, _, _ = formatter.SnippetToRawAST(file, src.contents.String())
	}
	lc.asts[file] = n
	return n
}

// find returns where the value at p of file's output (val: the output,
// JSON; nil when unknown) was written: the nearest position in a user's
// file that the walk reached, at worst the file's first line.
func (lc *locator) find(file string, val any, p vpath) pos { return lc.lookup(file, val, p).pos }

// lookup is find, saying how much of p it followed.
func (lc *locator) lookup(file string, val any, p vpath) found {
	root := lc.tree(file)
	if root == nil {
		return found{pos: pos{File: file, Line: 1}, rest: len(p)}
	}
	w := &walker{lc: lc, budget: walkBudget}
	best := pos{File: file, Line: 1}
	if l := root.Loc(); l != nil && l.IsSet() {
		best.Line = l.Begin.Line
	}
	return w.find(root, &scope{}, p, val, best)
}

// walkBudget bounds one walk (syntax nodes visited); maxCalls bounds the
// function calls followed, so a recursive function cannot run away.
const (
	walkBudget = 20000
	maxCalls   = 64
)

// found is how far a walk got: the best position, the number of path
// steps left (0: the value itself was found), and whether the expression
// decides the value of the first step (an object field without +:), so
// that an object merge need not look at its left side.
type found struct {
	pos   pos
	rest  int
	final bool
}

type walker struct {
	lc     *locator
	budget int
	calls  int
}

// scope is what names mean at a point of the tree: local variables and
// parameters (a nil node is unknown: a parameter without argument, a
// comprehension variable), and the objects self and $ stand for.
type scope struct {
	vars   *binding
	self   *objRef
	dollar *objRef
}

type binding struct {
	name ast.Identifier
	node ast.Node
	sc   *scope
	next *binding
}

type objRef struct {
	node *ast.Object
	sc   *scope // where the object literal is
}

func (s *scope) lookup(name ast.Identifier) *binding {
	for b := s.vars; b != nil; b = b.next {
		if b.name == name {
			return b
		}
	}
	return nil
}

// with returns a scope like s whose variables are extended by bind, called
// with the new scope (so that bindings can refer to each other).
func (s *scope) with(bind func(in *scope, add func(name ast.Identifier, n ast.Node, sc *scope))) *scope {
	in := &scope{vars: s.vars, self: s.self, dollar: s.dollar}
	bind(in, func(name ast.Identifier, n ast.Node, sc *scope) {
		in.vars = &binding{name: name, node: n, sc: sc, next: in.vars}
	})
	return in
}

// userPos is the position of loc when it is in a user's file: not in
// Rensei's library, nor in go-jsonnet's own (<std>, <extvar:…>).
func userPos(loc *ast.LocationRange) (pos, bool) {
	if loc == nil || !loc.IsSet() {
		return pos{}, false
	}
	file := locFile(loc)
	if file == "" || strings.HasPrefix(file, "<") || strings.HasPrefix(file, LibPrefix) {
		return pos{}, false
	}
	return pos{File: file, Line: loc.Begin.Line}, true
}

// locFile is the file a location is in: the parser of the formatter
// names it only in its Source.
func locFile(loc *ast.LocationRange) string {
	if loc.FileName != "" || loc.File == nil {
		return loc.FileName
	}
	return string(loc.File.DiagnosticFileName)
}

func (w *walker) find(n ast.Node, sc *scope, p vpath, val any, best pos) found {
	w.budget--
	if n == nil || w.budget <= 0 {
		return found{pos: best, rest: len(p)}
	}
	if at, ok := userPos(n.Loc()); ok {
		best = at
	}
	if len(p) == 0 {
		// The value itself: a variable or a field is followed to what it
		// names (an argument is where the value was written), nothing else.
		switch n.(type) {
		case *ast.Var, *ast.Parens, *ast.Local, *ast.Index, *ast.Self, *ast.Dollar, *ast.Conditional:
		default:
			return found{pos: best, final: true}
		}
	}
	stop := found{pos: best, rest: len(p), final: len(p) == 0}
	switch n := n.(type) {
	case *ast.Parens:
		return w.find(n.Inner, sc, p, val, best)
	case *ast.Local:
		return w.find(n.Body, bindLocals(n.Binds, sc), p, val, best)
	case *ast.Assert:
		return w.find(n.Rest, sc, p, val, best)
	case *ast.Function:
		// A file whose value is a function: its top-level arguments are
		// unknown here.
		return w.find(n.Body, sc.with(func(_ *scope, add func(ast.Identifier, ast.Node, *scope)) {
			for _, prm := range n.Parameters {
				add(prm.Name, nil, nil)
			}
		}), p, val, best)
	case *ast.Object:
		key, ok := p[0].(string)
		if !ok {
			return stop
		}
		in := enterObject(n, sc)
		for i := range n.Fields {
			f := &n.Fields[i]
			if name, ok := fieldName(f); !ok || name != key {
				continue
			}
			fieldAt := best
			if at, ok := userPos(&f.LocRange); ok {
				fieldAt = at
			}
			if f.Method != nil {
				return found{pos: fieldAt, rest: len(p) - 1, final: true}
			}
			r := w.find(f.Expr2, in, p[1:], sub(val, key), fieldAt)
			r.final = !f.SuperSugar
			return r
		}
		return stop
	case *ast.ObjectComp:
		if _, ok := p[0].(string); !ok || len(n.Fields) == 0 {
			return stop
		}
		in := bindFor(&n.Spec, enterObject(&ast.Object{}, sc))
		for i := range n.Fields {
			if f := &n.Fields[i]; f.Kind == ast.ObjectFieldExpr {
				r := w.find(f.Expr2, in, p[1:], sub(val, p[0]), best)
				r.final = true
				return r
			}
		}
		return stop
	case *ast.Array:
		i, ok := p[0].(int)
		if !ok || i < 0 || i >= len(n.Elements) {
			return stop
		}
		r := w.find(n.Elements[i].Expr, sc, p[1:], sub(val, i), best)
		r.final = true
		return r
	case *ast.ArrayComp:
		i, ok := p[0].(int)
		if !ok {
			return stop
		}
		in := bindFor(&n.Spec, sc)
		if n.Spec.Outer == nil && len(n.Spec.Conditions) == 0 {
			// [f(x) for x in xs]: element i is made from element i of xs.
			in = sc.with(func(_ *scope, add func(ast.Identifier, ast.Node, *scope)) {
				add(n.Spec.VarName, &ast.Index{Target: n.Spec.Expr, Index: &ast.LiteralNumber{OriginalString: strconv.Itoa(i)}}, sc)
			})
		}
		r := w.find(n.Body, in, p[1:], sub(val, i), best)
		r.final = true
		return r
	case *ast.Binary:
		if n.Op != ast.BopPlus {
			return stop
		}
		return w.plus(n.Left, n.Right, sc, p, val, best)
	case *ast.ApplyBrace:
		return w.plus(n.Left, n.Right, sc, p, val, best)
	case *ast.Var:
		b := sc.lookup(n.Id)
		if b == nil || b.node == nil {
			return stop
		}
		return w.find(b.node, b.sc, p, val, best)
	case *ast.Self:
		if sc.self == nil {
			return stop
		}
		return w.find(sc.self.node, sc.self.sc, p, val, best)
	case *ast.Dollar:
		if sc.dollar == nil {
			return stop
		}
		return w.find(sc.dollar.node, sc.dollar.sc, p, val, best)
	case *ast.Index:
		step, ok := indexStep(n)
		if !ok {
			return stop
		}
		// Not even finding the index is worse than stopping here.
		return w.find(n.Target, sc, vpath{step}.join(p...), wrap(step, val), best)
	case *ast.Import:
		root := w.imported(n)
		if root == nil {
			return stop
		}
		return w.find(root, &scope{}, p, val, best)
	case *ast.Apply:
		fn, fsc := w.function(n.Target, sc)
		if fn == nil || w.calls >= maxCalls {
			return stop
		}
		w.calls++
		defer func() { w.calls-- }()
		return w.find(fn.Body, bindParams(fn, fsc, &n.Arguments, sc), p, val, best)
	case *ast.Conditional:
		t := w.find(n.BranchTrue, sc, p, val, best)
		f := w.find(n.BranchFalse, sc, p, val, best)
		switch {
		case t.rest < f.rest:
			return t
		case f.rest < t.rest:
			return f
		}
		// Both branches say as much: which one applies is not known here.
		return found{pos: best, rest: t.rest, final: t.final && f.final}
	}
	return stop
}

// plus follows the value at p into left + right: for arrays by the
// lengths of the sides, for objects into the right side first (its fields
// win) and into the left where the right does not decide.
func (w *walker) plus(left, right ast.Node, sc *scope, p vpath, val any, best pos) found {
	stop := found{pos: best, rest: len(p)}
	if i, ok := p[0].(int); ok {
		items := elems(val)
		if nr, ok := w.length(right, sc); ok && items != nil && len(items) >= nr {
			cut := len(items) - nr
			if i >= cut {
				return w.find(right, sc, vpath{i - cut}.join(p[1:]...), items[cut:], best)
			}
			return w.find(left, sc, p, items[:cut], best)
		}
		if nl, ok := w.length(left, sc); ok {
			if i < nl {
				return w.find(left, sc, p, sliceTo(items, nl), best)
			}
			return w.find(right, sc, vpath{i - nl}.join(p[1:]...), sliceFrom(items, nl), best)
		}
		return stop
	}
	r := w.find(right, sc, p, val, best)
	if r.rest == 0 || r.final {
		return r
	}
	l := w.find(left, sc, p, val, best)
	if l.rest < r.rest {
		return l
	}
	return r
}

// length is the number of elements of an array expression, when the tree
// tells it without evaluating.
func (w *walker) length(n ast.Node, sc *scope) (int, bool) {
	w.budget--
	if w.budget <= 0 {
		return 0, false
	}
	switch n := n.(type) {
	case *ast.Array:
		return len(n.Elements), true
	case *ast.Parens:
		return w.length(n.Inner, sc)
	case *ast.Local:
		return w.length(n.Body, bindLocals(n.Binds, sc))
	case *ast.Var:
		if b := sc.lookup(n.Id); b != nil && b.node != nil {
			return w.length(b.node, b.sc)
		}
	case *ast.Binary:
		if n.Op == ast.BopPlus {
			l, lok := w.length(n.Left, sc)
			r, rok := w.length(n.Right, sc)
			return l + r, lok && rok
		}
	case *ast.Conditional:
		t, tok := w.length(n.BranchTrue, sc)
		f, fok := w.length(n.BranchFalse, sc)
		return t, tok && fok && t == f
	case *ast.Import:
		if root := w.imported(n); root != nil {
			return w.length(root, &scope{})
		}
	case *ast.Index:
		if step, ok := indexStep(n); ok {
			if v, vsc, _ := w.field(n.Target, sc, step); v != nil {
				return w.length(v, vsc)
			}
		}
	}
	return 0, false
}

// function resolves an expression to the function it denotes and the
// scope it closes over, or nil.
func (w *walker) function(n ast.Node, sc *scope) (*ast.Function, *scope) {
	w.budget--
	if w.budget <= 0 {
		return nil, nil
	}
	switch n := n.(type) {
	case *ast.Function:
		return n, sc
	case *ast.Parens:
		return w.function(n.Inner, sc)
	case *ast.Local:
		return w.function(n.Body, bindLocals(n.Binds, sc))
	case *ast.Var:
		if b := sc.lookup(n.Id); b != nil && b.node != nil {
			return w.function(b.node, b.sc)
		}
	case *ast.Index:
		step, ok := indexStep(n)
		if !ok {
			return nil, nil
		}
		v, vsc, method := w.field(n.Target, sc, step)
		if method != nil {
			return method, vsc
		}
		if v != nil {
			return w.function(v, vsc)
		}
	}
	return nil, nil
}

// field resolves the field step of an object expression: its value and
// scope, or the method it is.
func (w *walker) field(n ast.Node, sc *scope, step any) (ast.Node, *scope, *ast.Function) {
	w.budget--
	if w.budget <= 0 {
		return nil, nil, nil
	}
	switch n := n.(type) {
	case *ast.Object:
		key, ok := step.(string)
		if !ok {
			return nil, nil, nil
		}
		in := enterObject(n, sc)
		for i := range n.Fields {
			f := &n.Fields[i]
			if name, ok := fieldName(f); ok && name == key {
				if f.Method != nil {
					return nil, in, f.Method
				}
				return f.Expr2, in, nil
			}
		}
	case *ast.Array:
		if i, ok := step.(int); ok && i >= 0 && i < len(n.Elements) {
			return n.Elements[i].Expr, sc, nil
		}
	case *ast.Binary:
		if n.Op != ast.BopPlus {
			return nil, nil, nil
		}
		if v, vsc, m := w.field(n.Right, sc, step); v != nil || m != nil {
			return v, vsc, m
		}
		return w.field(n.Left, sc, step)
	case *ast.ApplyBrace:
		if v, vsc, m := w.field(n.Right, sc, step); v != nil || m != nil {
			return v, vsc, m
		}
		return w.field(n.Left, sc, step)
	case *ast.Parens:
		return w.field(n.Inner, sc, step)
	case *ast.Local:
		return w.field(n.Body, bindLocals(n.Binds, sc), step)
	case *ast.Var:
		if b := sc.lookup(n.Id); b != nil && b.node != nil {
			return w.field(b.node, b.sc, step)
		}
	case *ast.Self:
		if sc.self != nil {
			return w.field(sc.self.node, sc.self.sc, step)
		}
	case *ast.Dollar:
		if sc.dollar != nil {
			return w.field(sc.dollar.node, sc.dollar.sc, step)
		}
	case *ast.Import:
		if root := w.imported(n); root != nil {
			return w.field(root, &scope{}, step)
		}
	case *ast.Index:
		if s, ok := indexStep(n); ok {
			if v, vsc, _ := w.field(n.Target, sc, s); v != nil {
				return w.field(v, vsc, step)
			}
		}
	case *ast.Apply:
		fn, fsc := w.function(n.Target, sc)
		if fn == nil || w.calls >= maxCalls {
			return nil, nil, nil
		}
		w.calls++
		defer func() { w.calls-- }()
		return w.field(fn.Body, bindParams(fn, fsc, &n.Arguments, sc), step)
	}
	return nil, nil, nil
}

// imported is the syntax tree of the file an import names, resolved as
// the loader resolves it.
func (w *walker) imported(n *ast.Import) ast.Node {
	if n.File == nil {
		return nil
	}
	from := ""
	if l := n.Loc(); l != nil {
		from = locFile(l)
	}
	_, foundAt, err := w.lc.im.Import(from, n.File.Value)
	if err != nil {
		return nil
	}
	return w.lc.tree(foundAt)
}

// enterObject is the scope inside an object literal: its locals, self,
// and $ (the outermost object).
func enterObject(o *ast.Object, sc *scope) *scope {
	in := &scope{vars: sc.vars, self: &objRef{node: o, sc: sc}, dollar: sc.dollar}
	if in.dollar == nil {
		in.dollar = in.self
	}
	for i := range o.Fields {
		f := &o.Fields[i]
		if f.Kind != ast.ObjectLocal || f.Id == nil {
			continue
		}
		var n ast.Node = f.Expr2
		if f.Method != nil {
			n = f.Method
		}
		in.vars = &binding{name: *f.Id, node: n, sc: in, next: in.vars}
	}
	return in
}

// bindLocals binds the variables of a local expression, which may refer
// to each other.
func bindLocals(binds ast.LocalBinds, sc *scope) *scope {
	return sc.with(func(in *scope, add func(ast.Identifier, ast.Node, *scope)) {
		for i := range binds {
			b := &binds[i]
			var n ast.Node = b.Body
			if b.Fun != nil {
				n = b.Fun
			}
			add(b.Variable, n, in)
		}
	})
}

// bindParams binds a function's parameters to the arguments of a call
// (evaluated where the call is), else to their defaults; without either
// a parameter is unknown.
func bindParams(fn *ast.Function, fsc *scope, args *ast.Arguments, caller *scope) *scope {
	return fsc.with(func(in *scope, add func(ast.Identifier, ast.Node, *scope)) {
		for i, prm := range fn.Parameters {
			var n ast.Node
			sc := caller
			switch {
			case i < len(args.Positional):
				n = args.Positional[i].Expr
			case namedArg(args, prm.Name) != nil:
				n = namedArg(args, prm.Name)
			default:
				n, sc = prm.DefaultArg, in
			}
			add(prm.Name, n, sc)
		}
	})
}

func namedArg(args *ast.Arguments, name ast.Identifier) ast.Node {
	for _, a := range args.Named {
		if a.Name == name {
			return a.Arg
		}
	}
	return nil
}

// bindFor makes the variables of a comprehension unknown.
func bindFor(spec *ast.ForSpec, sc *scope) *scope {
	return sc.with(func(_ *scope, add func(ast.Identifier, ast.Node, *scope)) {
		for s := spec; s != nil; s = s.Outer {
			add(s.VarName, nil, nil)
		}
	})
}

// fieldName is the name of an object field written as an identifier or a
// string literal.
func fieldName(f *ast.ObjectField) (string, bool) {
	switch f.Kind {
	case ast.ObjectFieldID:
		if f.Id != nil {
			return string(*f.Id), true
		}
	case ast.ObjectFieldStr:
		if s, ok := f.Expr1.(*ast.LiteralString); ok {
			return s.Value, true
		}
	case ast.ObjectFieldExpr:
		if s, ok := f.Expr1.(*ast.LiteralString); ok {
			return s.Value, true
		}
	}
	return "", false
}

// indexStep is the path step of an index expression with a literal index
// (a.b, a['b'], a[0]).
func indexStep(n *ast.Index) (any, bool) {
	if n.Id != nil {
		return string(*n.Id), true
	}
	switch i := n.Index.(type) {
	case *ast.LiteralString:
		return i.Value, true
	case *ast.LiteralNumber:
		if k, err := strconv.Atoi(i.OriginalString); err == nil {
			return k, true
		}
	}
	return nil, false
}

// Values are JSON, decoded one level at a time as the walk needs them: a
// json.RawMessage, or an already split []json.RawMessage.

func elems(val any) []json.RawMessage {
	switch v := val.(type) {
	case []json.RawMessage:
		return v
	case json.RawMessage:
		var out []json.RawMessage
		if json.Unmarshal(v, &out) == nil {
			return out
		}
	}
	return nil
}

func sub(val any, step any) any {
	switch s := step.(type) {
	case int:
		if items := elems(val); s >= 0 && s < len(items) {
			return items[s]
		}
	case string:
		if raw, ok := val.(json.RawMessage); ok {
			var m map[string]json.RawMessage
			if json.Unmarshal(raw, &m) == nil {
				if v, ok := m[s]; ok {
					return v
				}
			}
		}
	}
	return nil
}

// wrap is a value whose step is val, for walking an index expression's
// target (whose other fields are unknown).
func wrap(step any, val any) any {
	if s, ok := step.(string); ok {
		if raw, ok := val.(json.RawMessage); ok {
			b, _ := json.Marshal(map[string]json.RawMessage{s: raw})
			return json.RawMessage(b)
		}
	}
	return nil
}

func sliceTo(items []json.RawMessage, n int) any {
	if items == nil || n > len(items) {
		return nil
	}
	return items[:n]
}

func sliceFrom(items []json.RawMessage, n int) any {
	if items == nil || n > len(items) {
		return nil
	}
	return items[n:]
}
