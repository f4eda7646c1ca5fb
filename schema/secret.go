package schema

import (
	"regexp"
	"strings"
)

// SecretRef matches a reference to a secret in an environment value or a
// file's content, as Rensei's Jsonnet library writes it:
//
//	${rensei:secret:NAME}          the value of secret NAME
//	${rensei:secret:NAME:CONTEXT}  a value derived from NAME for CONTEXT
//
// The values never enter the configuration: the machine that applies puts
// them in (see package engine).
var SecretRef = regexp.MustCompile(`\$\{rensei:secret:([a-z0-9][a-z0-9-]*)(?::([A-Za-z0-9._/@+-]+))?\}`)

// secretRefs returns the secret names text refers to, and the references
// that look like one but are malformed.
func secretRefs(text string) (names, malformed []string) {
	// Placement references are placement's to check; one inside a secret's
	// context stands for a word.
	text = PlacementRef.ReplaceAllString(text, "x")
	for _, m := range SecretRef.FindAllStringSubmatch(text, -1) {
		names = append(names, m[1])
	}
	rest := SecretRef.ReplaceAllString(text, "")
	for {
		i := strings.Index(rest, "${rensei:")
		if i < 0 {
			return names, malformed
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			end = len(rest) - i - 1
		}
		malformed = append(malformed, rest[i:i+end+1])
		rest = rest[i+end+1:]
	}
}
