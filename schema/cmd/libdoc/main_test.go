package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

const repo = "../../.."

// TestLibraryDocUpToDate fails when docs/library.md is not what the
// library's doc comments generate: run go run ./schema/cmd/libdoc.
func TestLibraryDocUpToDate(t *testing.T) {
	want, err := Generate(os.DirFS(repo))
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(filepath.Join(repo, Output))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Fatalf("%s is stale: run go run ./schema/cmd/libdoc (or go generate ./schema)", Output)
	}
}

// TestHelpersFullyDocumented: every helper of rensei.libsonnet documents
// each of its parameters and has an example.
func TestHelpersFullyDocumented(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repo, "schema/lib/rensei.libsonnet"))
	if err != nil {
		t.Fatal(err)
	}
	_, funcs, err := parseLibrary("rensei.libsonnet", string(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(funcs) < 10 {
		t.Fatalf("only %d functions found", len(funcs))
	}
	for _, f := range funcs {
		for _, p := range f.params {
			if f.doc[p.name] == "" {
				t.Errorf("rensei.libsonnet:%d: %s: parameter %s is not documented", f.line, f.name, p.name)
			}
		}
		if len(f.eg) == 0 {
			t.Errorf("rensei.libsonnet:%d: %s has no example", f.line, f.name)
		}
	}
}
