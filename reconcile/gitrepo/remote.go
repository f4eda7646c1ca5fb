package gitrepo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	gitclient "github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// ErrRemoteUnreachable marks a failure to reach the remote (network, a
// missing local repository, refused credentials), as opposed to a branch
// that does not exist there.
var ErrRemoteUnreachable = errors.New("remote unreachable")

// ErrNoBranch: the remote is reachable but has no such branch.
var ErrNoBranch = errors.New("branch not found on the remote")

// Credentials say where the secrets for a remote come from. Each secret
// is read from a file, or else from an environment variable; values are
// never logged and never part of an error.
type Credentials struct {
	// SSHKeyFile is a private key for ssh:// and scp-like URLs.
	SSHKeyFile string
	// SSHKeyPassphraseEnv names the variable holding the key's passphrase.
	SSHKeyPassphraseEnv string
	// TokenFile holds an HTTPS token (first line); TokenEnv names a
	// variable holding one. The file wins when both are set.
	TokenFile string
	TokenEnv  string
	// Username goes with the token (default "git"; GitLab wants
	// "oauth2", GitHub accepts anything).
	Username string
}

// auth builds the go-git auth method for url, or nil for none.
func (c Credentials) auth(rawURL string) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return nil, err
	}
	user := c.Username
	if user == "" {
		user = "git"
	}
	switch ep.Protocol {
	case "ssh":
		if c.SSHKeyFile == "" {
			return nil, nil // ssh-agent or the default keys, as git does
		}
		pass := ""
		if c.SSHKeyPassphraseEnv != "" {
			pass = os.Getenv(c.SSHKeyPassphraseEnv)
		}
		sshUser := ep.User
		if sshUser == "" {
			sshUser = "git"
		}
		a, err := ssh.NewPublicKeysFromFile(sshUser, c.SSHKeyFile, pass)
		if err != nil {
			// The error of a bad passphrase or key never contains the secret.
			return nil, fmt.Errorf("ssh key %s: %w", c.SSHKeyFile, err)
		}
		return a, nil
	case "http", "https":
		token := ""
		if c.TokenFile != "" {
			b, err := os.ReadFile(c.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("token file: %w", err)
			}
			token, _, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
		} else if c.TokenEnv != "" {
			token = os.Getenv(c.TokenEnv)
		}
		if token == "" {
			return nil, nil
		}
		return &http.BasicAuth{Username: user, Password: token}, nil
	}
	return nil, nil
}

// Redact returns rawURL fit for messages and reports: the whole user
// part of an http(s) URL is replaced by "xxxxx" (tokens are often passed
// as the user name), any password of another URL likewise, and a URL that
// does not parse is not shown at all. Local paths and scp-like ssh
// addresses (git@host:repo) are returned as they are.
func Redact(rawURL string) string {
	if !strings.Contains(rawURL, "://") {
		return rawURL
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "<unparseable remote URL>"
	}
	if u.User == nil {
		return rawURL
	}
	switch _, hasPassword := u.User.Password(); {
	case u.Scheme == "http" || u.Scheme == "https":
		u.User = url.User("xxxxx")
	case hasPassword:
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Remote is a config repository reached through a URL (https, ssh, file)
// or a local path, with a bare cache repository under a state directory
// into which branches are fetched. Head is cheap (one ls-remote, or one
// ref read for a local path); Fetch transfers objects only when asked.
// Its methods are safe for concurrent use (go-git is not, so they take
// turns).
type Remote struct {
	url   string // as given, may hold a password: never printed
	name  string // redacted, for messages
	local string // the repository's directory when url is a local path
	auth  transport.AuthMethod

	mu    sync.Mutex
	cache *git.Repository
	dir   string
}

// OpenRemote prepares the cache for rawURL under stateDir (created when
// missing; one cache per remote, named by a digest of the URL without its
// credentials). It does not contact the remote.
func OpenRemote(rawURL, stateDir string, creds Credentials) (*Remote, error) {
	r := &Remote{url: rawURL, name: Redact(rawURL)}
	if isLocalPath(rawURL) {
		abs, err := filepath.Abs(strings.TrimPrefix(rawURL, "file://"))
		if err != nil {
			return nil, fmt.Errorf("remote %s: %w", r.name, err)
		}
		r.local, r.url, r.name = abs, abs, abs
	}
	auth, err := creds.auth(r.url)
	if err != nil {
		return nil, fmt.Errorf("remote %s: credentials: %w", r.name, err)
	}
	r.auth = auth
	sum := sha256.Sum256([]byte(r.name))
	r.dir = filepath.Join(stateDir, "cache", hex.EncodeToString(sum[:8])+".git")
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return nil, fmt.Errorf("remote %s: cache: %w", r.name, err)
	}
	// The daemon keeps this repository open for its life: go-git's default
	// object cache (96 MiB) would hold a fleet's status reports long after
	// they were read.
	st := filesystem.NewStorage(osfs.New(r.dir), cache.NewObjectLRU(cacheObjects))
	repo, err := git.Open(st, nil)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.Init(st, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("remote %s: cache %s: %w", r.name, r.dir, err)
	}
	r.cache = repo
	return r, nil
}

// cacheObjects bounds the decoded Git objects a remote's cache keeps in
// memory.
const cacheObjects = 2 * cache.MiByte

// isLocalPath reports whether s names a directory rather than a URL.
func isLocalPath(s string) bool {
	if strings.HasPrefix(s, "file://") {
		return true
	}
	if strings.Contains(s, "://") {
		return false
	}
	// scp-like "user@host:path" is ssh; "./a:b" or "/a:b" is a path.
	if i := strings.Index(s, ":"); i > 0 && !strings.ContainsAny(s[:i], "/.") {
		return false
	}
	return true
}

// Name is the remote's URL with any password redacted.
func (r *Remote) Name() string { return r.name }

// LocalDir is the repository's directory when the remote is a local path
// (for watching its refs), or "".
func (r *Remote) LocalDir() string { return r.local }

// CacheDir is the bare cache repository fetched commits are read from.
func (r *Remote) CacheDir() string { return r.dir }

// remoteTimeout bounds one conversation with the remote when ctx has no deadline.
const remoteTimeout = 30 * time.Second

func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, remoteTimeout)
}

// Head returns the commit the remote's branch points at, without fetching
// anything: a local path's ref is read from disk, a URL is asked with one
// ls-remote. An unreachable remote is ErrRemoteUnreachable, a missing
// branch ErrNoBranch; both name the remote.
func (r *Remote) Head(ctx context.Context, branch string) (string, error) {
	h, err := r.head(ctx, branch)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

func (r *Remote) head(ctx context.Context, branch string) (plumbing.Hash, error) {
	ref := plumbing.NewBranchReferenceName(branch)
	if r.local != "" {
		repo, err := git.PlainOpen(r.local)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("remote %s: %w: %v", r.name, ErrRemoteUnreachable, err)
		}
		got, err := repo.Reference(ref, true)
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			return plumbing.ZeroHash, fmt.Errorf("remote %s: branch %s: %w", r.name, branch, ErrNoBranch)
		}
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("remote %s: branch %s: %w: %v", r.name, branch, ErrRemoteUnreachable, err)
		}
		return got.Hash(), nil
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	rem := git.NewRemote(nil, &config.RemoteConfig{Name: "origin", URLs: []string{r.url}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: r.auth})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return plumbing.ZeroHash, fmt.Errorf("remote %s: branch %s: %w", r.name, branch, ErrNoBranch)
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("remote %s: ls-remote: %w: %v", r.name, ErrRemoteUnreachable, r.scrub(err))
	}
	for _, x := range refs {
		if x.Name() == ref {
			return x.Hash(), nil
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("remote %s: branch %s: %w", r.name, branch, ErrNoBranch)
}

// scrub removes the raw URL (which may hold a password) from an error text.
func (r *Remote) scrub(err error) string {
	return strings.ReplaceAll(err.Error(), r.url, r.name)
}

// trackingRef is where a fetched branch is kept in the cache.
func trackingRef(branch string) plumbing.ReferenceName {
	return plumbing.ReferenceName("refs/remotes/origin/" + branch)
}

// Fetch brings the remote's branch into the cache (force: a rewritten
// branch is followed) and returns the commit it points at. A missing
// branch is ErrNoBranch; an unreachable remote ErrRemoteUnreachable.
func (r *Remote) Fetch(ctx context.Context, branch string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, err := r.fetchLocked(ctx, branch)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

func (r *Remote) fetchLocked(ctx context.Context, branch string) (plumbing.Hash, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	spec := config.RefSpec(fmt.Sprintf("+refs/heads/%s:%s", branch, trackingRef(branch)))
	rem := git.NewRemote(r.cache.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{r.url}})
	err := rem.FetchContext(ctx, &git.FetchOptions{RefSpecs: []config.RefSpec{spec}, Auth: r.auth, Tags: git.NoTags})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case isNoMatchingRef(err):
		// Forget what the cache saw: the branch is gone (or never was).
		_ = r.cache.Storer.RemoveReference(trackingRef(branch))
		return plumbing.ZeroHash, fmt.Errorf("remote %s: branch %s: %w", r.name, branch, ErrNoBranch)
	default:
		return plumbing.ZeroHash, fmt.Errorf("remote %s: fetch %s: %w: %v", r.name, branch, ErrRemoteUnreachable, r.scrub(err))
	}
	got, err := r.cache.Reference(trackingRef(branch), true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("remote %s: branch %s: %w", r.name, branch, ErrNoBranch)
	}
	return got.Hash(), nil
}

func isNoMatchingRef(err error) bool {
	var nm git.NoMatchingRefSpecError
	return errors.As(err, &nm) || errors.Is(err, transport.ErrEmptyRemoteRepository) ||
		strings.Contains(err.Error(), "couldn't find remote ref")
}

// Resolve returns a fetched commit of the cache as a Revision.
func (r *Remote) Resolve(sha string) (Revision, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rev, err := resolve(r.cache, sha)
	if err != nil {
		return Revision{}, fmt.Errorf("remote %s: %w", r.name, err)
	}
	return rev, nil
}

// IsAncestor reports whether fetched commit a is an ancestor of fetched
// commit b, or b itself: whether moving from a to b goes forward.
func (r *Remote) IsAncestor(a, b string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return isAncestor(r.cache.Storer, a, b)
}

// ErrPushRejected: the remote refused the update because the branch moved
// (not a fast-forward, or its old value did not match).
var ErrPushRejected = errors.New("push rejected: the branch moved")

// pushObjects updates the remote's branch from old to hash, sending only
// objs (what the commit added: it was built on old, which the remote has).
// go-git's push finds what to send by walking everything reachable from
// the remote's refs, which grows with every commit of the status branch;
// this costs what was written. The remote's compare-and-swap of the ref
// (and a check of its advertised tip first) makes a moved branch
// ErrPushRejected. The caller holds r.mu.
func (r *Remote) pushObjects(ctx context.Context, branch string, hash, old plumbing.Hash, objs []plumbing.Hash) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	fail := func(err error) error {
		if isRejected(err) {
			return fmt.Errorf("remote %s: push %s: %w", r.name, branch, ErrPushRejected)
		}
		return fmt.Errorf("remote %s: push %s: %w: %v", r.name, branch, ErrRemoteUnreachable, r.scrub(err))
	}
	ep, err := transport.NewEndpoint(r.url)
	if err != nil {
		return fail(err)
	}
	cli, err := gitclient.NewClient(ep)
	if err != nil {
		return fail(err)
	}
	sess, err := cli.NewReceivePackSession(ep, r.auth)
	if err != nil {
		return fail(err)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return fail(err)
	}
	dst := plumbing.NewBranchReferenceName(branch)
	refs, err := ar.AllReferences()
	if err != nil {
		return fail(err)
	}
	if ref, ok := refs[dst]; ok && ref.Hash() != old || !ok && !old.IsZero() {
		return fmt.Errorf("remote %s: push %s: the branch moved: %w", r.name, branch, ErrPushRejected)
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
	req.Commands = []*packp.Command{{Name: dst, Old: old, New: hash}}
	pr, pw := io.Pipe()
	req.Packfile = pr
	encoded := make(chan error, 1)
	go func() {
		_, err := packfile.NewEncoder(pw, r.cache.Storer, false).Encode(objs, 10)
		encoded <- pw.CloseWithError(err)
	}()
	rs, err := sess.ReceivePack(ctx, req)
	if err != nil {
		pr.Close() // unblocks the encoder
		<-encoded
		return fail(err)
	}
	if err := <-encoded; err != nil {
		return fail(err)
	}
	if rs != nil {
		if err := rs.Error(); err != nil {
			return fail(err)
		}
	}
	// The remote now has hash: record it as the tracking ref, so the next
	// rebuild starts from it without a fetch.
	return r.cache.Storer.SetReference(plumbing.NewHashReference(trackingRef(branch), hash))
}

func isRejected(err error) bool {
	s := err.Error()
	// go-git's own checks (fast-forward, RequireRemoteRefs) and
	// receive-pack's compare-and-swap of the ref, which reports per ref.
	// A hook or a protected branch declining the push is a "command error"
	// too, but retrying cannot help it: only a lost compare-and-swap counts.
	casLost := strings.Contains(s, "command error on") && (strings.Contains(s, "failed to update ref") ||
		strings.Contains(s, "cannot lock ref") || strings.Contains(s, "failed to lock") || strings.Contains(s, "but expected"))
	return errors.Is(err, git.ErrForceNeeded) || errors.Is(err, git.ErrNonFastForwardUpdate) ||
		strings.Contains(s, "non-fast-forward") || casLost ||
		strings.Contains(s, "remote ref") && strings.Contains(s, "required to be")
}

// tracked returns the commit the cache last saw for branch, or ZeroHash.
// The caller holds r.mu.
func (r *Remote) tracked(branch string) plumbing.Hash {
	ref, err := r.cache.Reference(trackingRef(branch), true)
	if err != nil {
		return plumbing.ZeroHash
	}
	return ref.Hash()
}

// DirsChanged reports whether any of the top-level directories dirs
// differs between fetched commits a and b ("" for a: no commit before).
func (r *Remote) DirsChanged(a, b string, dirs ...string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := func(h string) (string, error) {
		if h == "" {
			return "", nil
		}
		c, err := r.cache.CommitObject(plumbing.NewHash(h))
		if err != nil {
			return "", fmt.Errorf("remote %s: commit %s: %w", r.name, Short(h), err)
		}
		tree, err := c.Tree()
		if err != nil {
			return "", fmt.Errorf("remote %s: commit %s: tree: %w", r.name, Short(h), err)
		}
		k := ""
		for _, d := range dirs {
			if e, err := tree.FindEntry(d); err == nil {
				k += e.Hash.String()
			}
			k += "/"
		}
		return k, nil
	}
	ka, err := key(a)
	if err != nil {
		return false, err
	}
	kb, err := key(b)
	if err != nil {
		return false, err
	}
	return a == "" || ka != kb, nil
}
