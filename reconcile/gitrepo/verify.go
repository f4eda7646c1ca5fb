package gitrepo

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// ErrUntrusted: a commit is unsigned, or not signed by a key of the key ring.
var ErrUntrusted = errors.New("commit signature not trusted")

// ErrNotPGP: a commit is signed, but not with OpenPGP (an SSH or X.509
// signature), which Verify cannot check.
var ErrNotPGP = errors.New("signature is not OpenPGP")

func containsPGP(sig string) bool { return strings.Contains(sig, "BEGIN PGP SIGNATURE") }

// Verify checks the OpenPGP signature of the revision's commit against an
// armored public key ring and names the key that made it: "Name <email>
// (key ID)". An unsigned commit, or one not signed by a key of the ring,
// is ErrUntrusted.
func (r Revision) Verify(keyring string) (signer string, err error) {
	c := r.obj
	if c.PGPSignature == "" {
		return "", fmt.Errorf("commit %s: %w: unsigned", Short(r.SHA()), ErrUntrusted)
	}
	if !containsPGP(c.PGPSignature) {
		return "", fmt.Errorf("commit %s: %w: %w", Short(r.SHA()), ErrUntrusted, ErrNotPGP)
	}
	ent, err := verifyCommit(c, keyring)
	if err != nil {
		return "", fmt.Errorf("commit %s: %w: %v", Short(r.SHA()), ErrUntrusted, err)
	}
	for name := range ent.Identities {
		signer = name
		break
	}
	if ent.PrimaryKey != nil {
		signer = strings.TrimSpace(signer + " (key " + ent.PrimaryKey.KeyIdString() + ")")
	}
	return signer, nil
}

// verifyCommit checks a commit's armored signature against every key of
// an armored key ring, which may hold several blocks (one per team).
func verifyCommit(c *object.Commit, keyring string) (*openpgp.Entity, error) {
	var keys openpgp.EntityList
	for _, block := range strings.SplitAfter(keyring, "-----END PGP PUBLIC KEY BLOCK-----") {
		if !strings.Contains(block, "BEGIN PGP PUBLIC KEY BLOCK") {
			continue
		}
		list, err := openpgp.ReadArmoredKeyRing(strings.NewReader(block))
		if err != nil {
			return nil, fmt.Errorf("key ring: %w", err)
		}
		keys = append(keys, list...)
	}
	encoded := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(encoded); err != nil {
		return nil, err
	}
	content, err := encoded.Reader()
	if err != nil {
		return nil, err
	}
	return openpgp.CheckArmoredDetachedSignature(keys, content, strings.NewReader(c.PGPSignature), nil)
}

// Verify checks the signature of commit (a full hash) in the repository;
// see Revision.Verify.
func (r *Repo) Verify(commit, keyring string) (string, error) {
	rev, err := r.Resolve(commit)
	if err != nil {
		return "", err
	}
	return rev.Verify(keyring)
}

// ReadKeyring reads an armored OpenPGP public key ring (gpg --export --armor).
func ReadKeyring(rd io.Reader) (string, error) {
	b, err := io.ReadAll(rd)
	if err != nil {
		return "", err
	}
	if !strings.Contains(string(b), "BEGIN PGP PUBLIC KEY BLOCK") {
		return "", errors.New("not an armored OpenPGP public keyring (gpg --export --armor)")
	}
	return string(b), nil
}

// isAncestor reports whether commit a is an ancestor of b, or b itself.
func isAncestor(s storer.EncodedObjectStorer, a, b string) (bool, error) {
	if a == b {
		return true, nil
	}
	ca, err := object.GetCommit(s, plumbing.NewHash(a))
	if err != nil {
		return false, fmt.Errorf("commit %s: %w", Short(a), err)
	}
	cb, err := object.GetCommit(s, plumbing.NewHash(b))
	if err != nil {
		return false, fmt.Errorf("commit %s: %w", Short(b), err)
	}
	return ca.IsAncestor(cb)
}
