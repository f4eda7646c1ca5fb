// Package render turns Rensei's plain data into views for people: text
// (with ANSI colours on a terminal), Markdown for pull-request comments,
// and JSON. It computes nothing: plans, comparisons, reports and timelines
// arrive finished, and nothing rendered here is ever parsed back.
package render

import (
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	"github.com/rensei-dev/rensei/reconcile/change"
)

// symbols mark each action, as Terraform's do.
var symbols = map[change.Action]string{
	change.Create: "+", change.Replace: "±", change.Update: "~", change.Delete: "-", change.Keep: "=", change.Skip: "=",
}

// Symbol is the one-character mark of an action.
func Symbol(a change.Action) string { return symbols[a] }

// ANSI colours per action, used only when writing to a terminal.
var colours = map[change.Action]string{
	change.Create: "\x1b[32m", change.Replace: "\x1b[35m", change.Update: "\x1b[33m", change.Delete: "\x1b[31m",
	change.Keep: "\x1b[2m", change.Skip: "\x1b[2m",
}

const (
	bold  = "\x1b[1m"
	reset = "\x1b[0m"
)

// paint colours s for action a when colour is on.
func paint(colour bool, a change.Action, s string) string {
	if !colour {
		return s
	}
	return colours[a] + s + reset
}

// loud marks a line a reviewer must not miss (renames).
func loud(colour bool, s string) string {
	if !colour {
		return s
	}
	return bold + colours[change.Delete] + s + reset
}

// Formats are the output formats a command may offer.
const (
	Text     = "text"
	JSON     = "json"
	YAML     = "yaml"
	Markdown = "markdown"
)

// CheckFormat returns an error unless format is one of allowed.
func CheckFormat(format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return fmt.Errorf("--output %q: want %s", format, orList(allowed))
}

func orList(s []string) string {
	switch len(s) {
	case 0:
		return "nothing"
	case 1:
		return s[0]
	}
	out := ""
	for i, x := range s {
		switch {
		case i == 0:
			out = x
		case i == len(s)-1:
			out += " or " + x
		default:
			out += ", " + x
		}
	}
	return out
}

// WriteJSON writes v as indented JSON with a final newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteYAML writes v as YAML, with the same field names as its JSON.
func WriteYAML(w io.Writer, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Write writes v in format: JSON, YAML, or text (the view text draws).
// An unknown format is an error; nothing is written.
func Write(w io.Writer, format string, v any, text func(io.Writer) error) error {
	switch format {
	case JSON:
		return WriteJSON(w, v)
	case YAML:
		return WriteYAML(w, v)
	case Text:
		return text(w)
	}
	return CheckFormat(format, Text, JSON, YAML)
}
