package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// block is one fenced code block of a Markdown file.
type block struct {
	file string // relative to the repository
	line int    // of the block's first line of content
	lang string
	text string
}

func (b block) String() string { return b.file + ":" + strconv.Itoa(b.line) }

// docFiles are README.md and docs/*.md, relative to the repository.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repo, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"README.md"}
	for _, f := range files {
		rel, _ := filepath.Rel(repo, f)
		out = append(out, filepath.ToSlash(rel))
	}
	sort.Strings(out[1:])
	return out
}

var fence = regexp.MustCompile("^ {0,3}(`{3,}|~{3,})\\s*([^`\\s]*)")

// blocks returns the fenced code blocks of a Markdown file. A fence closes
// with the same character, at least as long, and no info string, so an
// example output holding ``` is fenced with ````.
func blocks(t *testing.T, file string) []block {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, file))
	if err != nil {
		t.Fatal(err)
	}
	var out []block
	var open string
	var cur *block
	var body []string
	for i, line := range strings.Split(string(data), "\n") {
		m := fence.FindStringSubmatch(line)
		switch {
		case cur == nil && m != nil:
			open = m[1]
			cur = &block{file: file, line: i + 2, lang: m[2]}
			body = nil
		case cur != nil && m != nil && m[1][0] == open[0] && len(m[1]) >= len(open) && m[2] == "":
			cur.text = strings.Join(body, "\n") + "\n"
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body = append(body, line)
		}
	}
	if cur != nil {
		t.Errorf("%s: a code block is not closed", cur)
	}
	return out
}
