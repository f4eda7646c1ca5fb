package schema

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-jsonnet"
	"github.com/google/go-jsonnet/ast"
)

// Native functions Rensei's library calls through std.native: what Jsonnet
// has no standard function for. Each is documented with the helper that
// wraps it in rensei.libsonnet.
func registerNatives(vm *jsonnet.VM) {
	vm.NativeFunction(&jsonnet.NativeFunction{
		Name:   "parseCSV",
		Params: ast.Identifiers{"text", "file"},
		Func: func(args []any) (any, error) {
			text, file, err := stringArgs(args)
			if err != nil {
				return nil, fmt.Errorf("parseCSV: %w", err)
			}
			t, err := parseCSV(text, file)
			if err != nil {
				return nil, err
			}
			return t.objects(), nil
		},
	})
	vm.NativeFunction(&jsonnet.NativeFunction{
		Name:   "roster",
		Params: ast.Identifiers{"text", "file", "column"},
		Func: func(args []any) (any, error) {
			text, file, err := stringArgs(args[:2])
			if err != nil {
				return nil, fmt.Errorf("roster: %w", err)
			}
			column, ok := args[2].(string)
			if !ok {
				return nil, errors.New("roster: column must be a string")
			}
			return roster(text, file, column)
		},
	})
}

func stringArgs(args []any) (string, string, error) {
	text, ok := args[0].(string)
	if !ok {
		return "", "", fmt.Errorf("text must be a string (importstr 'file.csv'), not %T", args[0])
	}
	file, ok := args[1].(string)
	if !ok {
		return "", "", errors.New("file must be a string")
	}
	return text, file, nil
}

// csvTable is a CSV text with a header line: the columns, then each row
// with the line it starts on.
type csvTable struct {
	header []string
	rows   [][]string
	lines  []int
}

// parseCSV reads CSV as RFC 4180 says and learning management systems
// export it: fields quoted when they hold commas, quotes ("") or line
// breaks, CRLF or LF line ends, an optional byte order mark. Blank lines
// and lines starting with # are skipped; spaces around fields are
// trimmed. Every row must have as many fields as the header. Errors name
// file and line.
func parseCSV(text, file string) (*csvTable, error) {
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(text, "\ufeff")))
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	t := &csvTable{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s:%d: column %d: %v", file, pe.Line, pe.Column, pe.Err)
			}
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		line, _ := r.FieldPos(0)
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		if t.header == nil {
			seen := map[string]bool{}
			for i, h := range rec {
				switch {
				case h == "":
					return nil, fmt.Errorf("%s:%d: column %d of the header has no name", file, line, i+1)
				case seen[h]:
					return nil, fmt.Errorf("%s:%d: column %q appears twice in the header", file, line, h)
				}
				seen[h] = true
			}
			t.header = rec
			continue
		}
		if len(rec) != len(t.header) {
			return nil, fmt.Errorf("%s:%d: %d fields, the header has %d (quote a field that holds a comma: \"Tanaka, Yui\")", file, line, len(rec), len(t.header))
		}
		t.rows = append(t.rows, rec)
		t.lines = append(t.lines, line)
	}
	return t, nil
}

// objects is the rows as Jsonnet objects, header → field.
func (t *csvTable) objects() []any {
	out := make([]any, len(t.rows))
	for i, rec := range t.rows {
		o := make(map[string]any, len(rec))
		for j, v := range rec {
			o[t.header[j]] = v
		}
		out[i] = o
	}
	return out
}

// roster reads a roster CSV: one student a row, identified by column.
// Every id must name an instance (lower-case letters, digits and inner
// dashes, at most MaxObjectName bytes) and appear once; a roster without
// rows is an error. The rows are returned as objects with an "id" field
// (the column's value) besides their own columns.
func roster(text, file, column string) (any, error) {
	t, err := parseCSV(text, file)
	if err != nil {
		return nil, err
	}
	if t.header == nil {
		return nil, fmt.Errorf("%s: empty roster: want a header line naming the columns (one of them %q), then one student a line", file, column)
	}
	col := -1
	for i, h := range t.header {
		if h == column {
			col = i
		}
	}
	if col < 0 {
		return nil, fmt.Errorf("%s:1: the header has no column %q (columns: %s)", file, column, strings.Join(t.header, ", "))
	}
	if len(t.rows) == 0 {
		return nil, fmt.Errorf("%s: empty roster: a header and no students", file)
	}
	first := map[string]int{}
	out := t.objects()
	for i, rec := range t.rows {
		id := rec[col]
		switch msg := validName(id, MaxObjectName); {
		case id == "":
			return nil, fmt.Errorf("%s:%d: no %s", file, t.lines[i], column)
		case msg != "":
			return nil, fmt.Errorf("%s:%d: %s %q: %s", file, t.lines[i], column, id, strings.TrimPrefix(msg, fmt.Sprintf("name %q ", id)))
		}
		if at, dup := first[id]; dup {
			return nil, fmt.Errorf("%s:%d: duplicate %s %q (first at line %d)", file, t.lines[i], column, id, at)
		}
		first[id] = t.lines[i]
		out[i].(map[string]any)["id"] = id
	}
	return out, nil
}
