package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
)

// The deployment's identity decides which objects a pass may prune: every
// object Rensei makes carries its deployment's scope, and a pass observes
// and prunes only its own. It lives in the repository: the policy's
// deployment name when declared, otherwise a scope derived from the
// repository itself (Origin), so two repositories on one engine never
// prune each other even when neither declares one.

// Origin derives a deployment scope from where a configuration comes from:
// the first commit of a Git repository's history (with the directory's
// path inside the work tree, when the configuration is a subdirectory),
// or the absolute path of a plain directory. Every clone of a repository
// agrees on it; a copy of the files elsewhere without Git does not.
func Origin(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if top := gitrepo.WorkTree(abs); top != "" {
		repo, err := gitrepo.Open(top)
		if err == nil {
			if head, err := repo.Resolve("HEAD"); err == nil {
				root, err := head.Root()
				if err != nil {
					return "", err
				}
				rel, _ := filepath.Rel(top, abs)
				return OriginOfRoot(root, filepath.ToSlash(rel)), nil
			}
		}
	}
	sum := sha256.Sum256([]byte(abs))
	return "d-" + hex.EncodeToString(sum[:6]), nil
}

// OriginOfRoot is the scope of a Git repository with that first commit,
// for the configuration at rel inside it ("" or "." for its top).
func OriginOfRoot(root, rel string) string {
	if rel == "" || rel == "." {
		return "g-" + root[:12]
	}
	sum := sha256.Sum256([]byte(root + "\x00" + rel))
	return "g-" + hex.EncodeToString(sum[:6])
}

// deploymentScope decides a revision's scope: the policy's deployment,
// else the scope asked for (--scope, RENSEI_SCOPE), else the origin. A
// scope asked for that differs from the declared deployment is an error.
func deploymentScope(declared, asked, origin string) (string, error) {
	switch {
	case declared != "" && asked != "" && asked != declared:
		return "", fmt.Errorf("--scope %q: the repository declares deployment %q in its policy; they must agree", asked, declared)
	case declared != "":
		return declared, nil
	case asked != "":
		return asked, nil
	}
	return origin, nil
}
