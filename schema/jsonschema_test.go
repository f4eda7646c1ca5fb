package schema

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files and the committed JSON Schema")

func TestJSONSchemaUpToDate(t *testing.T) {
	got, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(JSONSchemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(JSONSchemaFile)
	if err != nil {
		t.Fatalf("%v (generate it with `make schema`)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: the Go types changed; run `make schema` and commit the result", JSONSchemaFile)
	}
	var doc map[string]any
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	defs := doc["$defs"].(map[string]any)
	for _, name := range []string{"Site", "Host", "Environment", "Network", "Group", "Placement", "Volume"} {
		def, ok := defs[name].(map[string]any)
		if !ok {
			t.Fatalf("definition %s missing", name)
		}
		if def["additionalProperties"] != false {
			t.Errorf("%s: unknown fields must be rejected (additionalProperties false)", name)
		}
	}
}
