package schema

import (
	"encoding/json"

	"github.com/invopop/jsonschema"
)

// JSONSchemaFile is the committed JSON Schema, generated from the Go types;
// a test fails when it is stale (regenerate with `make schema`).
const JSONSchemaFile = "rensei.schema.json"

// JSONSchema returns the JSON Schema of a config repository's objects
// (Site and Environment, each also as an array), generated from the Go
// types: editors and CI linters validate files with it.
func JSONSchema() ([]byte, error) {
	r := &jsonschema.Reflector{
		// Unknown fields are errors in Rensei, so they are in the schema too.
		AllowAdditionalProperties: false,
		DoNotReference:            false,
	}
	site := r.Reflect(&Site{})
	env := r.Reflect(&Environment{})
	s := &jsonschema.Schema{
		Version:     jsonschema.Version,
		ID:          "https://rensei.dev/schema/rensei.schema.json",
		Title:       "Rensei config repository objects",
		Description: "What sites/*.jsonnet and environments/**/*.jsonnet evaluate to: a site or an environment, or an array of them.",
		Definitions: jsonschema.Definitions{},
	}
	for name, def := range site.Definitions {
		s.Definitions[name] = def
	}
	for name, def := range env.Definitions {
		s.Definitions[name] = def
	}
	ref := func(name string) *jsonschema.Schema { return &jsonschema.Schema{Ref: "#/$defs/" + name} }
	// Groups may also be an object keyed by name (the key is the name).
	if g, e := s.Definitions["Group"], s.Definitions["Environment"]; g != nil && e != nil {
		byName := *g
		byName.Required = nil
		for _, f := range g.Required {
			if f != "name" {
				byName.Required = append(byName.Required, f)
			}
		}
		byName.Description = "A group given in an object keyed by its name: name may be left out."
		s.Definitions["GroupByName"] = &byName
		e.Properties.Set("groups", &jsonschema.Schema{OneOf: []*jsonschema.Schema{
			{Type: "array", Items: ref("Group")},
			{Type: "object", AdditionalProperties: ref("GroupByName")},
		}})
	}
	s.OneOf = []*jsonschema.Schema{
		ref("Site"),
		{Type: "array", Items: ref("Site")},
		ref("Environment"),
		{Type: "array", Items: ref("Environment")},
	}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
