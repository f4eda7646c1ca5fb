package daemon

import (
	"errors"
	"fmt"

	"github.com/rensei-dev/rensei/reconcile/source"
)

// ErrUntrusted: the head is unsigned, or not signed by a key of the key ring.
var ErrUntrusted = errors.New("commit signature not trusted")

// verify checks the PGP signature of the revision's commit against the
// armored key ring.
func verify(rev source.Revision, keyring string) error {
	if rev.Commit.PGPSignature == "" {
		return fmt.Errorf("commit %s: %w: unsigned", rev.SHA(), ErrUntrusted)
	}
	e, err := rev.Commit.Verify(keyring)
	if err != nil {
		return fmt.Errorf("commit %s: %w: %v", rev.SHA(), ErrUntrusted, err)
	}
	_ = e
	return nil
}
