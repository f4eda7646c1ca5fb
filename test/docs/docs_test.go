// Package docs_test keeps the documentation true: the Jsonnet examples of
// README.md and docs/*.md evaluate (and, where they name a site,
// environment or policy file, fit the schema); every rensei command line
// they show names commands and flags that exist; the examples that need
// no host are run (validate on the example repositories, the pull-request
// transcripts of docs/pull-requests.md replayed against a Git repository
// built from examples/federated-lecture); and the rename detector of a
// live plan agrees with the one of plan --base, as the docs say.
package docs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rensei-dev/rensei/schema"
)

// repo is the repository's root; binary the rensei binary TestMain built.
var repo, binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.Getwd()
	if err == nil {
		repo, err = filepath.Abs(filepath.Join(dir, "..", ".."))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/docs:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "rensei-docs-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/docs:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binary = filepath.Join(tmp, "rensei")
	build := exec.Command("go", "build", "-o", binary, "./cmd/rensei")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "test/docs: go build ./cmd/rensei: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// rensei runs the binary in dir and returns its output and exit code.
func rensei(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("rensei %s: did not finish in time", strings.Join(args, " "))
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("rensei %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// fileComment is a block's first line naming the file it is: "//
// environments/cs101.jsonnet".
var fileComment = regexp.MustCompile(`^//\s*((sites|environments|policy)/\S+\.jsonnet)\s*$`)

// TestJsonnetBlocks: every Jsonnet example evaluates as Rensei evaluates
// files (imports, the embedded library, native functions); an example
// naming a site, environment or policy file decodes strictly into what
// that file holds (no unknown field, no value of the wrong type).
func TestJsonnetBlocks(t *testing.T) {
	n := 0
	for _, f := range docFiles(t) {
		for _, b := range blocks(t, f) {
			if b.lang != "jsonnet" {
				continue
			}
			n++
			out, err := schema.Evaluate(fstest.MapFS{"example.jsonnet": {Data: []byte(b.text)}}, "example.jsonnet", schema.Options{Timeout: 10 * time.Second})
			if err != nil {
				t.Errorf("%s: the example does not evaluate:\n%v", b, err)
				continue
			}
			first, _, _ := strings.Cut(b.text, "\n")
			m := fileComment.FindStringSubmatch(strings.TrimSpace(first))
			if m == nil {
				continue
			}
			var into any
			switch m[2] {
			case "sites":
				into = &schema.Site{}
			case "environments":
				into = &schema.Environment{}
			case "policy":
				into = &schema.Policy{}
			}
			if bytes.HasPrefix(bytes.TrimSpace(out), []byte("[")) {
				into = &[]json.RawMessage{}
			}
			dec := json.NewDecoder(bytes.NewReader(out))
			dec.DisallowUnknownFields()
			if err := dec.Decode(into); err != nil {
				t.Errorf("%s: the example of %s does not fit the schema: %v", b, m[1], err)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d Jsonnet examples found: is the Markdown parsed?", n)
	}
}

// commandLine is one rensei command line shown in the docs.
type commandLine struct {
	where string
	args  []string
}

// shellStop ends a command line's arguments.
var shellStop = map[string]bool{"|": true, "||": true, "&&": true, ";": true, "&": true, ">": true, ">>": true, "2>&1": true, "<": true}

// commandStart are the words a command may follow on a line.
var commandStart = map[string]bool{"$": true, "#": true, "run:": true, "-": true, "sudo": true, "exec": true}

// commandLines finds every invocation of rensei (or bin/rensei) in the
// code blocks of the docs and in docs/ci.
func commandLines(t *testing.T) []commandLine {
	t.Helper()
	var texts []block
	for _, f := range docFiles(t) {
		for _, b := range blocks(t, f) {
			if b.lang != "jsonnet" && b.lang != "json" && b.lang != "diff" {
				texts = append(texts, b)
			}
		}
	}
	ci, _ := filepath.Glob(filepath.Join(repo, "docs", "ci", "*.yml"))
	for _, f := range ci {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repo, f)
		texts = append(texts, block{file: rel, line: 1, text: string(data)})
	}
	var out []commandLine
	for _, b := range texts {
		for i, line := range strings.Split(b.text, "\n") {
			fields := strings.Fields(line)
			for j, tok := range fields {
				if tok != "rensei" && !strings.HasSuffix(tok, "/rensei") || j > 0 && !commandStart[fields[j-1]] && !shellStop[fields[j-1]] {
					continue
				}
				if strings.Contains(tok, "/") && !strings.HasPrefix(tok, "bin/") && !strings.HasPrefix(tok, "./bin/") && !strings.HasPrefix(tok, "$") {
					continue // a path like /usr/bin/rensei in a unit file
				}
				var args []string
				for _, a := range fields[j+1:] {
					if shellStop[a] || strings.HasPrefix(a, "#") || strings.HasPrefix(a, ">") || strings.HasPrefix(a, "2>") {
						break
					}
					args = append(args, a)
				}
				out = append(out, commandLine{where: fmt.Sprintf("%s:%d", b.file, b.line+i), args: args})
				break
			}
		}
	}
	return out
}

// TestCommandLines: every rensei command line in the docs names a command
// that exists, and only flags that command has (placeholders such as PATH
// and [--head REF] are read as the synopsis they are).
func TestCommandLines(t *testing.T) {
	lines := commandLines(t)
	if len(lines) < 20 {
		t.Fatalf("only %d command lines found", len(lines))
	}
	flagsOf := map[string]map[string]bool{}
	subcommands := map[string]map[string]bool{}
	complete := func(args ...string) []string {
		out, _, code := rensei(t, repo, append([]string{"__complete"}, args...)...)
		if code != 0 {
			t.Fatalf("rensei __complete %s: exit %d", strings.Join(args, " "), code)
		}
		var names []string
		for _, l := range strings.Split(out, "\n") {
			if name, _, _ := strings.Cut(l, "\t"); name != "" && !strings.HasPrefix(name, ":") {
				names = append(names, name)
			}
		}
		return names
	}
	for _, cl := range lines {
		var path []string
		rest := cl.args
		for len(rest) > 0 {
			key := strings.Join(path, " ")
			if subcommands[key] == nil {
				subcommands[key] = map[string]bool{}
				for _, s := range complete(append(append([]string{}, path...), "")...) {
					subcommands[key][s] = true
				}
			}
			word := strings.Trim(rest[0], "[]")
			if strings.HasPrefix(word, "-") || !subcommands[key][word] {
				break
			}
			path, rest = append(path, word), rest[1:]
		}
		if len(path) == 0 && (len(rest) == 0 || !strings.HasPrefix(rest[0], "-")) {
			t.Errorf("%s: rensei %s: no such command", cl.where, strings.Join(cl.args, " "))
			continue
		}
		key := strings.Join(path, " ")
		if flagsOf[key] == nil {
			flagsOf[key] = map[string]bool{}
			for _, f := range complete(append(append([]string{}, path...), "-")...) {
				flagsOf[key][f] = true
			}
			flagsOf[key]["--help"], flagsOf[key]["-h"] = true, true
		}
		for _, a := range rest {
			a = strings.TrimLeft(a, "[")
			if a == "--" {
				break // the rest is a command for a container
			}
			if !strings.HasPrefix(a, "-") || a == "-" {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimRight(a, "]"), "=")
			if len(name) > 2 && name[1] != '-' && flagsOf[key]["-"+name] {
				continue // -out for --out, as Terraform users write it, is accepted
			}
			if !flagsOf[key][name] {
				t.Errorf("%s: rensei %s: %q has no flag %s", cl.where, strings.Join(cl.args, " "), "rensei "+key, name)
			}
		}
	}
}

// TestExampleRepositoriesValidate: the command lines that validate, eval
// or lint an example repository of this tree (README's five minutes) run
// and succeed, as shown.
func TestExampleRepositoriesValidate(t *testing.T) {
	ran := 0
	for _, cl := range commandLines(t) {
		if len(cl.args) < 2 || cl.args[0] != "validate" && cl.args[0] != "eval" && cl.args[0] != "lint" {
			continue
		}
		var target string
		for _, a := range cl.args[1:] {
			if !strings.HasPrefix(a, "-") {
				target = a
			}
		}
		if target == "" || strings.ContainsAny(target, "[]<>|") {
			continue
		}
		if _, err := os.Stat(filepath.Join(repo, target, "sites")); err != nil {
			continue // not a repository of this tree (., a user's path)
		}
		ran++
		if out, errOut, code := rensei(t, repo, cl.args...); code != 0 {
			t.Errorf("%s: rensei %s: exit %d\n%s%s", cl.where, strings.Join(cl.args, " "), code, out, errOut)
		}
	}
	if ran == 0 {
		t.Fatal("no command line validates an example repository: README's five minutes changed?")
	}
}
