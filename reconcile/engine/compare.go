package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rensei-dev/rensei/reconcile/compare"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/schema"
)

// CompareRevisions loads the revisions base and head of repo (branches,
// tags, commits), places both at t and compares them: what a pull request
// changes, without contacting any host. An environment scheduled at t
// (its window opens later) is also compared at its opening, and what
// changes there is a field of its entry (see NoteUpcoming): a pull request
// adding a student to next term's course is not "no differences".
// Configuration problems of either
// revision are part of the comment (Comment.Err reports them), not an
// error; a revision that does not exist is an error naming it.
func CompareRevisions(ctx context.Context, repo *gitrepo.Repo, base, head string, load schema.Options, scope string, t time.Time) (compare.Comment, error) {
	b, err := side(ctx, repo, "base", base, load, scope, t)
	if err != nil {
		return compare.Comment{}, err
	}
	h, err := side(ctx, repo, "head", head, load, scope, t)
	if err != nil {
		return compare.Comment{}, err
	}
	switch {
	case h.problems != nil:
		return compare.NewComment(b.rev, h.rev, nil, "head", h.problems), nil
	case b.problems != nil:
		return compare.NewComment(b.rev, h.rev, nil, "base", b.problems), nil
	}
	d := compare.Compare(b.want, h.want)
	// Environments whose window opens later compare as equal at t; what
	// head changes in them shows at their opening.
	NoteUpcoming(&d, UpcomingChanges(b.loaded, h.loaded, t))
	return compare.NewComment(b.rev, h.rev, &d, "", nil), nil
}

// revisionSide is one evaluated revision: its desired state, or its problems.
type revisionSide struct {
	rev      compare.Revision
	loaded   *Revision
	want     *place.Desired
	problems schema.Problems
}

// side resolves and evaluates one revision.
func side(ctx context.Context, repo *gitrepo.Repo, which, ref string, load schema.Options, scope string, t time.Time) (revisionSide, error) {
	rev, err := repo.Resolve(ref)
	if err != nil {
		return revisionSide{}, fmt.Errorf("--%s: no such revision: %w", which, err)
	}
	s := revisionSide{rev: compare.Revision{Ref: ref, Commit: rev.SHA()}}
	loaded, err := Load(ctx, Source{Name: ref, FS: rev.FS, Commit: rev.SHA()}, InProcess{}, load, scope)
	if err == nil {
		s.loaded = loaded
		s.want, err = loaded.At(t)
	}
	var ps schema.Problems
	switch {
	case errors.As(err, &ps):
		s.problems = ps
	case err != nil:
		return s, fmt.Errorf("%s revision %s: %w", which, s.rev, err)
	}
	return s, nil
}
