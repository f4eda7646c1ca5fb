package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// decodeError is one value of an evaluated file that does not fit the
// schema: an unknown field or a value of the wrong type, at its path.
type decodeError struct {
	path vpath
	msg  string
}

// decodeStrict decodes raw into v (a pointer) as encoding/json does with
// DisallowUnknownFields, but goes on past a bad value: every unknown field
// and every value of the wrong type is returned with its path (relative
// to raw), and everything else is decoded. Messages write paths through
// show.
func decodeStrict(raw json.RawMessage, v any, show func(vpath) vpath) []decodeError {
	d := &decoder{show: show}
	d.value(raw, reflect.ValueOf(v).Elem(), nil)
	return d.errs
}

type decoder struct {
	errs []decodeError
	show func(vpath) vpath
}

func (d *decoder) fail(p vpath, format string, args ...any) {
	d.errs = append(d.errs, decodeError{path: p.join(), msg: fmt.Sprintf(format, args...)})
}

// typeErr records a value of the wrong type, its path leading the message.
func (d *decoder) typeErr(p vpath, msg string) {
	if len(p) > 0 {
		msg = d.show(p).String() + ": " + msg
	}
	d.fail(p, "%s", msg)
}

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

func (d *decoder) value(raw json.RawMessage, rv reflect.Value, p vpath) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return // as encoding/json: null leaves the value alone
	}
	if rv.CanAddr() && rv.Addr().Type().Implements(unmarshaler) {
		if err := json.Unmarshal(raw, rv.Addr().Interface()); err != nil {
			d.typeErr(p, typeMessage(err, rv.Type(), raw))
		}
		return
	}
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			rv.Set(reflect.New(rv.Type().Elem()))
		}
		d.value(raw, rv.Elem(), p)
	case reflect.Struct:
		fields, ok := d.object(raw, rv.Type(), p)
		if !ok {
			return
		}
		known := structFields(rv.Type())
		for _, f := range fields {
			i, ok := known.lookup(f.name)
			if !ok {
				msg := fmt.Sprintf("unknown field %q", f.name)
				if len(p) > 0 {
					msg += " in " + d.show(p).String()
				}
				if near := known.nearest(f.name); near != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", near)
				}
				d.fail(p.join(f.name), "%s", msg)
				continue
			}
			d.value(f.raw, rv.FieldByIndex(i), p.join(f.name))
		}
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			d.scalar(raw, rv, p)
			return
		}
		fields, ok := d.object(raw, rv.Type(), p)
		if !ok {
			return
		}
		if rv.IsNil() {
			rv.Set(reflect.MakeMapWithSize(rv.Type(), len(fields)))
		}
		for _, f := range fields {
			elem := reflect.New(rv.Type().Elem()).Elem()
			d.value(f.raw, elem, p.join(f.name))
			rv.SetMapIndex(reflect.ValueOf(f.name).Convert(rv.Type().Key()), elem)
		}
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			d.scalar(raw, rv, p)
			return
		}
		var items []json.RawMessage
		if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
			d.typeErr(p, wrongType(rv.Type(), raw))
			return
		}
		out := reflect.MakeSlice(rv.Type(), len(items), len(items))
		for i, item := range items {
			d.value(item, out.Index(i), p.join(i))
		}
		rv.Set(out)
	default:
		d.scalar(raw, rv, p)
	}
}

func (d *decoder) scalar(raw json.RawMessage, rv reflect.Value, p vpath) {
	if err := json.Unmarshal(raw, rv.Addr().Interface()); err != nil {
		d.typeErr(p, typeMessage(err, rv.Type(), raw))
	}
}

type rawField struct {
	name string
	raw  json.RawMessage
}

// object splits a JSON object into its fields, in order; anything else is
// a type error.
func (d *decoder) object(raw json.RawMessage, t reflect.Type, p vpath) ([]rawField, bool) {
	if raw[0] != '{' {
		d.typeErr(p, wrongType(t, raw))
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		d.fail(p, "%v", err)
		return nil, false
	}
	var out []rawField
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			d.fail(p, "%v", err)
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			d.fail(p, "%v", err)
			return nil, false
		}
		out = append(out, rawField{name: tok.(string), raw: v})
	}
	return out, true
}

// fieldSet is the JSON fields of a struct type.
type fieldSet struct {
	exact map[string][]int
	fold  map[string][]int // lower-cased, as encoding/json matches
	names []string
}

var fieldSets sync.Map // reflect.Type → *fieldSet

func structFields(t reflect.Type) *fieldSet {
	if fs, ok := fieldSets.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{exact: map[string][]int{}, fold: map[string][]int{}}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous && f.Type.Kind() == reflect.Struct {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs.exact[name] = f.Index
		if _, dup := fs.fold[strings.ToLower(name)]; !dup {
			fs.fold[strings.ToLower(name)] = f.Index
		}
		fs.names = append(fs.names, name)
	}
	fieldSets.Store(t, fs)
	return fs
}

func (fs *fieldSet) lookup(name string) ([]int, bool) {
	if i, ok := fs.exact[name]; ok {
		return i, true
	}
	i, ok := fs.fold[strings.ToLower(name)]
	return i, ok
}

// nearest is the known field a misspelt name most likely meant, or "".
func (fs *fieldSet) nearest(name string) string {
	best, bestD := "", -1
	for _, n := range fs.names {
		if d := editDistance(strings.ToLower(name), strings.ToLower(n)); bestD < 0 || d < bestD {
			best, bestD = n, d
		}
	}
	if bestD < 0 || bestD > 2 || bestD > len(name)/2 {
		return ""
	}
	return best
}

// editDistance is the Damerau–Levenshtein distance (adjacent
// transpositions count once) of two short strings.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// typeMessage words a decoding error of one value.
func typeMessage(err error, t reflect.Type, raw json.RawMessage) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return wrongType(t, raw)
	}
	return err.Error()
}

// wrongType says what a value should have been and what it is.
func wrongType(t reflect.Type, raw json.RawMessage) string {
	return "expected " + jsonKind(t) + ", got " + describe(raw)
}

// jsonKind names what a Go type is in JSON.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

// describe says what a JSON value is, with the value itself when short:
// `a string ("two")`, `an array of 2 strings`, `an object`.
func describe(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		if len(s) > 40 {
			s = s[:37] + "..."
		}
		return "a string (" + strconv.Quote(s) + ")"
	case '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) == nil && len(m) == 0 {
			return "an empty object"
		}
		return "an object"
	case '[':
		var items []json.RawMessage
		_ = json.Unmarshal(raw, &items)
		if len(items) == 0 {
			return "an empty array"
		}
		kinds := map[string]int{}
		var order []string
		for _, it := range items {
			k := kindWord(it)
			if kinds[k] == 0 {
				order = append(order, k)
			}
			kinds[k]++
		}
		if len(order) == 1 {
			if len(items) == 1 {
				return "an array of 1 " + order[0]
			}
			return fmt.Sprintf("an array of %d %ss", len(items), order[0])
		}
		parts := make([]string, len(order))
		for i, k := range order {
			parts[i] = fmt.Sprintf("%d %s", kinds[k], k)
			if kinds[k] > 1 {
				parts[i] += "s"
			}
		}
		return "an array of " + strings.Join(parts, ", ")
	case 't', 'f':
		return string(raw)
	case 'n':
		return "null"
	}
	return "a number (" + string(raw) + ")"
}

func kindWord(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "value"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}
