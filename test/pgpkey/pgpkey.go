// Package pgpkey makes OpenPGP keys for tests of signed commits.
package pgpkey

import (
	"bytes"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// New makes a key for name@example.edu and returns it with its armored
// public key (a key ring of one).
func New(tb testing.TB, name string) (*openpgp.Entity, string) {
	tb.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.edu", nil)
	if err != nil {
		tb.Fatal(err)
	}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return e, b.String()
}
