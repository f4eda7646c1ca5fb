package schema

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRoster: rosters are CSV as learning management systems export it
// (quoted fields with commas and quotes, CRLF, a byte order mark), read by
// encoding/csv through r.roster and r.parseCSV; bad rosters are errors
// naming file and line, and an empty roster is one.
func TestRoster(t *testing.T) {
	lms := "\ufeffid,name,email\r\ns001,\"Tanaka, Yui\",yui@example.edu\r\n# a comment\r\n\r\ns002,\"Lee \"\"Bob\"\"\",bob@example.edu\r\n"
	env := func(expr string) map[string]string {
		return map[string]string{
			"sites/s.jsonnet":         campusSite,
			"environments/roster.csv": lms,
			"environments/x.jsonnet": "local r = import 'rensei.libsonnet';\nlocal roster = " + expr + ";\n" +
				"r.course('x', roster, sites=['campus'], subnet='198.19.1.0/24')\n" +
				"+ r.withGroup('student', { env: { NAMES: std.join(';', [s.name for s in roster]) } })\n",
		}
	}
	for _, expr := range []string{
		"r.roster(importstr 'roster.csv')",
		"r.parseCSV(importstr 'roster.csv')",
		"r.roster(importstr 'roster.csv', column='email') + []",
	} {
		topo, err := Load(repo(env(expr)), Options{Timeout: 5 * time.Second})
		if strings.Contains(expr, "email") {
			if err == nil || !strings.Contains(err.Error(), `roster.csv:2: email "yui@example.edu": must be lower-case letters`) {
				t.Errorf("%s: %v", expr, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		g := topo.Environments[0].Groups[0]
		if diff := cmp.Diff([]string{"s001", "s002"}, g.Members); diff != "" {
			t.Errorf("%s: members (-want +got):\n%s", expr, diff)
		}
		if got := g.Env["NAMES"]; got != `Tanaka, Yui;Lee "Bob"` {
			t.Errorf("%s: names %q", expr, got)
		}
	}

	for csv, says := range map[string]string{
		"":                        "roster.csv: empty roster: want a header line",
		"id,name\n":               "roster.csv: empty roster: a header and no students",
		"# only a comment\n":      "roster.csv: empty roster",
		"name\nann\n":             `roster.csv:1: the header has no column "id" (columns: name)`,
		"id,name\ns1,Ann\ns1,Bob": `roster.csv:3: duplicate id "s1" (first at line 2)`,
		"id,name\ns1,Tanaka, Yui": "roster.csv:2: 3 fields, the header has 2 (quote a field that holds a comma",
		"id,name\ns1,\"Tanaka":    "roster.csv:2: column",
		"id,name\nAnn Lee,x":      `roster.csv:2: id "Ann Lee": must be lower-case letters, digits and inner dashes`,
		"id,name\n,x":             "roster.csv:2: no id",
		"id,,name\ns1,a,b":        "roster.csv:1: column 2 of the header has no name",
		"id,id\ns1,s1":            `roster.csv:1: column "id" appears twice`,
	} {
		files := map[string]string{
			"sites/s.jsonnet":         campusSite,
			"environments/roster.csv": csv,
			"environments/x.jsonnet":  "local r = import 'rensei.libsonnet';\n\nr.course('x', r.roster(importstr 'roster.csv'), sites=['campus'], subnet='198.19.1.0/24')\n",
		}
		_, err := Load(repo(files), Options{Timeout: 5 * time.Second})
		if err == nil || !strings.Contains(err.Error(), says) || !strings.HasPrefix(err.Error(), "environments/x.jsonnet:3: RUNTIME ERROR: ") {
			t.Errorf("roster %q: want an error at the call saying %q, got %v", csv, says, err)
		}
	}

	// A group with neither replicas nor members is a problem, not zero
	// instances; so is an empty roster given as a list.
	for _, members := range []string{"", ", members: []"} {
		_, err := Load(repo(map[string]string{"sites/s.jsonnet": campusSite,
			"environments/x.jsonnet": "{\n  name: 'x',\n  groups: [{ name: 'g', image: 'b'" + members + " }],\n}\n"}), Options{Timeout: 5 * time.Second})
		if err == nil || !strings.Contains(err.Error(), `environments/x.jsonnet:3: environment "x": group "g": has neither replicas nor members`) {
			t.Errorf("members %q: %v", members, err)
		}
	}
}

func FuzzParseCSV(f *testing.F) {
	f.Add("id,name\ns001,\"Tanaka, Yui\"\r\n")
	f.Add("\ufeffid\n# c\n\ns1\n")
	f.Add("id,name\ns1,\"unterminated\n")
	f.Fuzz(func(t *testing.T, text string) {
		tab, err := parseCSV(text, "f.csv")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.csv") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for i, row := range tab.rows {
			if len(row) != len(tab.header) || tab.lines[i] < 1 {
				t.Fatalf("row %d: %v (line %d), header %v", i, row, tab.lines[i], tab.header)
			}
		}
		if _, err := roster(text, "f.csv", "id"); err != nil && !strings.HasPrefix(err.Error(), "f.csv") {
			t.Fatalf("roster error does not name the file: %v", err)
		}
	})
}
