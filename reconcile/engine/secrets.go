package engine

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/schema"
)

// Secrets never live in Git: a configuration references them with
// placeholders that Rensei's Jsonnet library writes,
//
//	${rensei:secret:NAME}          the value of secret NAME
//	${rensei:secret:NAME:CONTEXT}  a value derived from NAME for CONTEXT
//
// in environment values and file contents. The values are files in a
// secrets directory on the machine that applies (one file per name). A
// derived value is HMAC-SHA256(NAME's value, CONTEXT) in hex, cut to 32
// characters: one master secret gives every student their own token
// ("notebook" for "cs101/ann"), and anyone holding the master can compute
// the token again (rensei access).
//
// Plans, reports, labels, logs and metrics only ever hold placeholders. A
// container is sealed with a digest of the values it uses (keyed by a
// random salt kept beside the secrets, so the digest says nothing about
// a value), folded into its spec hash: rotating a secret replaces exactly
// the containers that use it. Values are put in just before a container
// is made.

// placeholder matches one secret reference (schema.SecretRef).
var placeholder = schema.SecretRef

// Secrets reads secret values from a directory.
type Secrets struct {
	// Dir holds one file per secret, named by the secret; a trailing
	// newline is not part of the value.
	Dir string
}

// ErrSecretMissing: a configuration refers to a secret the directory lacks.
var ErrSecretMissing = errors.New("secret missing")

// Value returns the value of a reference: the secret, or the value
// derived from it for context (when context is not empty).
func (s Secrets) Value(name, context string) (string, error) {
	if s.Dir == "" {
		return "", fmt.Errorf("secret %s: %w: no secrets directory configured (--secrets-dir)", name, ErrSecretMissing)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("secret %s: %w from %s", name, ErrSecretMissing, s.Dir)
	}
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if context == "" {
		return v, nil
	}
	return Derive(v, context), nil
}

// Derive is the value derived from a master secret for a context.
func Derive(master, context string) string {
	m := hmac.New(sha256.New, []byte(master))
	m.Write([]byte(context))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// Expand replaces every reference in text by its value.
func (s Secrets) Expand(text string) (string, error) {
	var errs []error
	out := placeholder.ReplaceAllStringFunc(text, func(ref string) string {
		m := placeholder.FindStringSubmatch(ref)
		v, err := s.Value(m[1], m[2])
		if err != nil {
			errs = append(errs, err)
			return ref
		}
		return v
	})
	return out, errors.Join(errs...)
}

// salt is the random key of the digests, kept beside the secrets (made on
// first use).
func (s Secrets) salt() ([]byte, error) {
	p := filepath.Join(s.Dir, ".salt")
	b, err := os.ReadFile(p)
	if err == nil && len(b) >= 16 {
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) && err != nil {
		return nil, fmt.Errorf("secrets salt: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return nil, fmt.Errorf("secrets salt: %w", err)
	}
	return b, nil
}

// uses lists the references in a container's variables and files, sorted
// and without duplicates.
func uses(c drivers.ContainerSpec) []string {
	var refs []string
	add := func(text string) {
		refs = append(refs, placeholder.FindAllString(text, -1)...)
	}
	for _, kv := range c.Env {
		add(kv)
	}
	for _, f := range c.Files {
		add(f.Content)
	}
	slices.Sort(refs)
	return slices.Compact(refs)
}

// Seal gives every container of want that uses secrets a digest of their
// values in its labels and spec hash, so a rotated secret replaces exactly
// the containers using it. A missing secret is an error naming it and the
// containers that need it; nothing is applied then.
func (s Secrets) Seal(want *place.Desired) error {
	var salt []byte
	missing := map[string][]string{}
	for hi := range want.Hosts {
		h := &want.Hosts[hi]
		for ci := range h.Containers {
			c := &h.Containers[ci]
			refs := uses(*c)
			if len(refs) == 0 {
				continue
			}
			if salt == nil {
				var err error
				if s.Dir == "" {
					return fmt.Errorf("%w: container %s uses secrets and no secrets directory is configured (--secrets-dir)", ErrSecretMissing, c.Name)
				}
				if salt, err = s.salt(); err != nil {
					return err
				}
			}
			mac := hmac.New(sha256.New, salt)
			for _, ref := range refs {
				m := placeholder.FindStringSubmatch(ref)
				v, err := s.Value(m[1], m[2])
				if err != nil {
					missing[m[1]] = append(missing[m[1]], c.Name)
					continue
				}
				fmt.Fprintf(mac, "%s=%s\x00", ref, v)
			}
			digest := hex.EncodeToString(mac.Sum(nil))[:16]
			labels := maps.Clone(c.Labels)
			sum := sha256.Sum256([]byte(labels[drivers.LabelSpecHash] + "\x00" + digest))
			labels[drivers.LabelSpecHash] = hex.EncodeToString(sum[:8])
			labels[drivers.LabelSpecFields] += ";" + place.SecretsField + "=" + digest[:8]
			labels[drivers.LabelSecrets] = digest
			c.Labels = labels
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(missing)) {
		users := missing[name]
		more := ""
		if len(users) > 3 {
			more = fmt.Sprintf(" and %d more", len(users)-3)
			users = users[:3]
		}
		errs = append(errs, fmt.Errorf("secret %s: %w from %s (used by %s%s)", name, ErrSecretMissing, s.Dir, strings.Join(users, ", "), more))
	}
	return errors.Join(errs...)
}

// Resolve returns the container with every reference replaced by its
// value, for the driver that makes it. The result must never be logged,
// stored or reported.
func (s Secrets) Resolve(c drivers.ContainerSpec) (drivers.ContainerSpec, error) {
	if len(uses(c)) == 0 {
		return c, nil
	}
	var errs []error
	env := make([]string, len(c.Env))
	for i, kv := range c.Env {
		v, err := s.Expand(kv)
		env[i] = v
		errs = append(errs, err)
	}
	files := make([]drivers.File, len(c.Files))
	for i, f := range c.Files {
		v, err := s.Expand(f.Content)
		f.Content = v
		files[i] = f
		errs = append(errs, err)
	}
	c.Env, c.Files = env, files
	return c, errors.Join(errs...)
}
