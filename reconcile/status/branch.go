package status

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
)

// Publisher writes one daemon's reports to the status branch of a remote.
// It remembers what the branch holds for its hosts, so a pass whose
// reports did not change costs nothing (no fetch, no commit). Publish is
// safe for concurrent use; other daemons may write the same branch.
type Publisher struct {
	Remote *gitrepo.Remote
	Branch string // default DefaultBranch
	Log    *slog.Logger
	// Attempts and Backoff bound the pushes of one Publish (see gitrepo.Update).
	Attempts int
	Backoff  time.Duration
	// Fetched, when set, is told the duration and error of every fetch.
	Fetched func(time.Duration, error)

	mu      sync.Mutex
	last    map[string]kept // what the branch holds, by "site/host"
	fetched bool
	// contended: the last claim found hosts another daemon holds.
	contended bool
	commits   atomic.Int64
}

// Commits counts the commits this publisher pushed.
func (p *Publisher) Commits() int64 { return p.commits.Load() }

func (p *Publisher) defaults() {
	if p.Branch == "" {
		p.Branch = DefaultBranch
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.last == nil {
		p.last = map[string]kept{}
	}
}

// Pending returns the reports that would be written: those whose content
// differs from what this publisher last saw on the branch. It does no I/O.
func (p *Publisher) Pending(reports []Report) []Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.defaults()
	return p.pending(reports)
}

func (p *Publisher) pending(reports []Report) []Report {
	var out []Report
	for _, r := range reports {
		if prev, ok := p.last[r.Key()]; ok && !prev.supersededBy(r) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// Publish writes the reports that changed as one commit on the status
// branch and pushes it; a branch moved by another writer is handled by
// gitrepo's compare-and-swap and retry. It returns how many reports were
// written. Reports equal to what the branch already holds are not written.
func (p *Publisher) Publish(ctx context.Context, reports []Report) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.defaults()
	changed := p.pending(reports)
	if len(changed) == 0 {
		return 0, nil
	}
	var write []Report
	u := gitrepo.Update{Fetch: !p.fetched, Attempts: p.Attempts, Backoff: p.Backoff, Fetched: p.Fetched, Log: p.Log}
	h, err := p.Remote.UpdateBranch(ctx, p.Branch, u, func(f *gitrepo.Files) (string, error) {
		write = write[:0]
		for _, r := range changed {
			jsonPath, textPath := Paths(r.Site, r.Host)
			cur, err := f.Read(jsonPath)
			if err != nil {
				return "", fmt.Errorf("status branch %s: %s: %w", p.Branch, jsonPath, err)
			}
			if cur != nil {
				if prev, err := decode(cur); err == nil && !r.Supersedes(&prev) {
					p.last[r.Key()] = keep(prev) // already there (an earlier life of this daemon)
					continue
				}
			}
			f.Write(jsonPath, r.JSON())
			f.Write(textPath, []byte(r.Text()))
			write = append(write, r)
		}
		return Message(write), nil
	})
	p.fetched = p.fetched || err == nil
	if err != nil {
		return 0, fmt.Errorf("status branch %s: %w", p.Branch, err)
	}
	if h == "" {
		return 0, nil
	}
	for _, r := range write {
		p.last[r.Key()] = keep(r)
	}
	p.commits.Add(1)
	p.Log.Info("report committed", "commit", h, "reports", len(write))
	return len(write), nil
}

// kept is what a publisher remembers of a host's report on the branch:
// the report without its lists of items, their lengths, and a digest of
// them. A converge leaves thousands of items in a fleet's reports, and a
// repaired drift stays the record until something new happens: a daemon
// need not hold them to tell whether a new report differs.
type kept struct {
	head   Report // Drift, Applied and Failed nil
	lens   [3]int // of Drift, Applied, Failed
	digest [sha256.Size]byte
}

func keep(r Report) kept {
	k := kept{lens: itemLens(r)}
	if k.lens != [3]int{} {
		k.digest = itemsDigest(r)
	}
	r.Drift, r.Applied, r.Failed = nil, nil, nil
	k.head = r
	return k
}

// supersededBy is r.Supersedes of the report kept.
func (k *kept) supersededBy(r Report) bool {
	return r.supersedes(k.same(r), k.head, k.lens[2])
}

// same is r.Same of the report kept. Items are digested only when r has
// as many as the report kept, and some.
func (k *kept) same(r Report) bool {
	lens := itemLens(r)
	if lens != k.lens {
		return false
	}
	head := r
	head.Drift, head.Applied, head.Failed = nil, nil, nil
	return head.Same(k.head) && (lens == [3]int{} || itemsDigest(r) == k.digest)
}

func itemLens(r Report) [3]int { return [3]int{len(r.Drift), len(r.Applied), len(r.Failed)} }

// itemsDigest is a digest of r's lists of items: every field of every
// item, each prefixed by its length.
func itemsDigest(r Report) [sha256.Size]byte {
	h := sha256.New()
	var buf []byte
	str := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	for _, items := range [][]Item{r.Drift, r.Applied, r.Failed} {
		buf = binary.AppendUvarint(buf[:0], uint64(len(items)))
		h.Write(buf)
		for _, it := range items {
			buf = buf[:0]
			for _, s := range []string{string(it.Kind), it.Name, it.Env, it.Group, string(it.Action), string(it.Code), it.Reason, it.Error} {
				str(s)
			}
			h.Write(buf)
		}
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

func decode(b []byte) (Report, error) {
	var r Report
	err := json.Unmarshal(b, &r)
	return r, err
}

// Paths returns the files of a host's report on the status branch.
func Paths(site, host string) (jsonPath, textPath string) {
	base := "reports/" + site + "/" + host
	return base + ".json", base + ".txt"
}

// isReportPath matches reports/<site>/<host>.json.
func isReportPath(p string) bool {
	parts := strings.Split(p, "/")
	return len(parts) == 3 && parts[0] == "reports" && strings.HasSuffix(parts[2], ".json")
}

// Read returns every report in a status branch tree, sorted by site and
// host. A file that is not a report does not hide the others: it is
// returned in the joined error, naming its path.
func Read(fsys fs.FS) ([]Report, error) {
	var out []Report
	var errs []error
	err := fs.WalkDir(fsys, "reports", func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == "reports" {
			return fs.SkipAll // no report yet
		}
		if err != nil || d.IsDir() || !isReportPath(p) {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err == nil {
			var r Report
			r, err = decode(b)
			if err == nil {
				out = append(out, r)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	slices.SortFunc(out, func(a, b Report) int { return strings.Compare(a.Key(), b.Key()) })
	return out, errors.Join(errs...)
}

// ReadRemote fetches the status branch and reads its reports. A branch
// that does not exist yet is gitrepo.ErrNoBranch.
func ReadRemote(ctx context.Context, remote *gitrepo.Remote, branch string) ([]Report, error) {
	if branch == "" {
		branch = DefaultBranch
	}
	rev, err := remote.ReadBranch(ctx, branch)
	if err != nil {
		return nil, err
	}
	return Read(rev.FS)
}

// LastEnforced returns the config commit that the newest readable reports
// of hosts (all hosts when empty) say was enforced, or "" when there is
// none: a restarted daemon whose head is refused enforces that commit
// again. Unreadable reports are skipped and returned as the error beside
// the answer, so one bad file never disables the fallback.
func (p *Publisher) LastEnforced(ctx context.Context, hosts []string) (string, error) {
	p.mu.Lock()
	p.defaults()
	p.mu.Unlock()
	reports, err := ReadRemote(ctx, p.Remote, p.Branch)
	if errors.Is(err, gitrepo.ErrNoBranch) {
		return "", nil
	}
	if reports == nil && err != nil {
		return "", err
	}
	var newest Report
	for _, r := range reports {
		if r.Commit == "" || (len(hosts) > 0 && !slices.Contains(hosts, r.Key()) && !slices.Contains(hosts, r.Host)) {
			continue
		}
		if r.Time.After(newest.Time) {
			newest = r
		}
	}
	return newest.Commit, err
}

// Version is one version of one host's report on the status branch: the
// status commit that wrote it, and the report, or why it could not be read.
type Version struct {
	StatusCommit string    `json:"statusCommit"`
	Message      string    `json:"message"`
	Path         string    `json:"path"`
	Site         string    `json:"site"`
	Host         string    `json:"host"` // "site/host"
	Time         time.Time `json:"time"` // the report's time, else the status commit's
	Report       *Report   `json:"report,omitempty"`
	// Invalid says why the file is not a readable report.
	Invalid string `json:"invalid,omitempty"`
}

// Versions reads every version of every report on the status branch of a
// local repository, newest status commit first. found is false when the
// branch does not exist.
func Versions(repo *gitrepo.Repo, branch string) (out []Version, found bool, err error) {
	if branch == "" {
		branch = DefaultBranch
	}
	files, found, err := repo.Versions(branch, isReportPath)
	if err != nil || !found {
		return nil, found, err
	}
	for _, f := range files {
		site := path.Base(path.Dir(f.Path))
		v := Version{StatusCommit: f.Commit, Message: f.Message, Path: f.Path, Site: site,
			Host: site + "/" + strings.TrimSuffix(path.Base(f.Path), ".json"), Time: f.Time}
		r, err := decode(f.Content)
		switch {
		case err != nil:
			v.Invalid = "not a report: " + err.Error()
		default:
			v.Report = &r
			if r.Site != "" && r.Host != "" {
				v.Site, v.Host = r.Site, r.Key()
			}
			if !r.Time.IsZero() {
				v.Time = r.Time
			}
		}
		out = append(out, v)
	}
	return out, true, nil
}
