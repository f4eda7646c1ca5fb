package gitrepo

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// FileVersion is one version of a file: the commit that added or changed
// it, and its content there.
type FileVersion struct {
	Commit  string
	Message string
	Time    time.Time // the commit's committer time
	Path    string
	Content []byte
}

// Versions lists every version of the files matching match that a commit
// of branch added or changed, newest commit first. The branch is looked
// up locally, then as origin's remote-tracking branch; found is false when
// neither exists.
func (r *Repo) Versions(branch string, match func(path string) bool) (out []FileVersion, found bool, err error) {
	tip, err := r.branchTip(branch)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("branch %s: %w", branch, err)
	}
	iter, err := r.r.Log(&git.LogOptions{From: tip, Order: git.LogOrderCommitterTime})
	if err != nil {
		return nil, true, fmt.Errorf("branch %s: %w", branch, err)
	}
	err = iter.ForEach(func(c *object.Commit) error {
		vs, err := changedFiles(c, match)
		if err != nil {
			return fmt.Errorf("branch %s: commit %s: %w", branch, Short(c.Hash.String()), err)
		}
		out = append(out, vs...)
		return nil
	})
	return out, true, err
}

func (r *Repo) branchTip(branch string) (plumbing.Hash, error) {
	for _, name := range []string{"refs/heads/" + branch, "refs/remotes/origin/" + branch} {
		ref, err := r.r.Reference(plumbing.ReferenceName(name), true)
		if err == nil {
			return ref.Hash(), nil
		}
		if !errors.Is(err, plumbing.ErrReferenceNotFound) {
			return plumbing.ZeroHash, err
		}
	}
	return plumbing.ZeroHash, plumbing.ErrReferenceNotFound
}

// changedFiles returns the matching files a commit added or changed
// against its first parent.
func changedFiles(c *object.Commit, match func(string) bool) ([]FileVersion, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	var parentTree *object.Tree
	if c.NumParents() > 0 {
		p, err := c.Parent(0)
		if err != nil {
			return nil, err
		}
		if parentTree, err = p.Tree(); err != nil {
			return nil, err
		}
	}
	changes, err := object.DiffTree(parentTree, tree)
	if err != nil {
		return nil, err
	}
	var out []FileVersion
	for _, ch := range changes {
		name := ch.To.Name
		if name == "" || !match(name) {
			continue // deleted, or not wanted
		}
		f, err := tree.File(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		content, err := f.Contents()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, FileVersion{Commit: c.Hash.String(), Message: c.Message, Time: c.Committer.When, Path: name, Content: []byte(content)})
	}
	return out, nil
}
