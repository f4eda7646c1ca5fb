package history

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/rensei-dev/rensei/reconcile/source"
	"github.com/rensei-dev/rensei/test/pgpkey"
)

const sitesFile = `local r = import 'rensei.libsonnet';
[
  r.site('campus', [r.host('h0', underlay='198.18.0.1')]),
  r.site('cloud', [r.host('h0', underlay='198.18.0.2')]),
]
`

func course(image, site string, members ...string) string {
	return `local r = import 'rensei.libsonnet';
r.course('cs101', ['` + strings.Join(members, "', '") + `'], sites=['` + site + `'], subnet='198.19.1.0/24', image='` + image + `', active={ until: '2027-08-01' })
`
}

func spark(replicas string) string {
	return `{
  name: 'spark',
  networks: [{ name: 'data', subnet: '198.19.2.0/24' }],
  groups: [{ name: 'worker', image: 'spark:3', replicas: ` + replicas + `, placement: { sites: ['cloud'] }, networks: [{ network: 'data' }] }],
}
`
}

// repoDir is a Git repository the test writes commits into with the git
// command line, at fixed times and with fixed authors.
type repoDir struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T) *repoDir {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required")
	}
	r := &repoDir{t: t, dir: t.TempDir()}
	r.git("", "init", "-q", "-b", "main")
	return r
}

func (r *repoDir) write(name, body string) {
	r.t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// git runs git; when is the author and committer date ("" for now).
func (r *repoDir) git(when string, args ...string) string {
	r.t.Helper()
	return gitAs(r.t, r.dir, "alice", when, args...)
}

func gitAs(t *testing.T, dir, who, when string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=" + who, "-c", "user.email=" + who + "@example.edu", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if when != "" {
		cmd.Env = append(cmd.Env, "GIT_AUTHOR_DATE="+when, "GIT_COMMITTER_DATE="+when)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit stages everything and commits as who at when; returns the hash.
func (r *repoDir) commit(who, when, msg string) string {
	r.t.Helper()
	gitAs(r.t, r.dir, who, when, "add", "-A")
	gitAs(r.t, r.dir, who, when, "commit", "-q", "-m", msg)
	return gitAs(r.t, r.dir, who, when, "rev-parse", "HEAD")
}

// fixture is the history every test reads:
//
//	c1 2027-01-10 alice  cs101 (ann, bob on campus) and spark (2 workers)
//	c2 2027-01-12 bob    README only
//	c3 2027-01-15 carol  cs101 image busybox:1 → busybox:2
//	c4 2027-01-20 dave   cs101 at an unknown site: invalid
//	c5 2027-01-21 dave   fixed, and cyd added (signed when key is given)
//	c6 2027-02-01 erin   spark 2 → 3 workers
//
// and, when status is set, a status branch with three report commits.
type fixture struct {
	repo                   *repoDir
	c1, c2, c3, c4, c5, c6 string
}

func newFixture(t *testing.T, status bool, key *openpgp.Entity) *fixture {
	t.Helper()
	f := &fixture{repo: newRepo(t)}
	r := f.repo
	r.write("sites/lab.jsonnet", sitesFile)
	r.write("environments/cs101.jsonnet", course("busybox:1", "campus", "ann", "bob"))
	r.write("environments/spark.jsonnet", spark("2"))
	f.c1 = r.commit("alice", "2027-01-10T09:00:00Z", "cs101 and spark")
	r.write("README.md", "config\n")
	f.c2 = r.commit("bob", "2027-01-12T09:00:00Z", "readme")
	r.write("environments/cs101.jsonnet", course("busybox:2", "campus", "ann", "bob"))
	f.c3 = r.commit("carol", "2027-01-15T09:00:00Z", "cs101: busybox 2")
	r.write("environments/cs101.jsonnet", course("busybox:2", "hokudai", "ann", "bob"))
	f.c4 = r.commit("dave", "2027-01-20T09:00:00Z", "cs101: move to hokudai")
	r.write("environments/cs101.jsonnet", course("busybox:2", "campus", "ann", "bob", "cyd"))
	if key != nil {
		f.c5 = signedCommit(t, r.dir, key, "dave", "2027-01-21T09:00:00Z", "cs101: back to campus, add cyd")
	} else {
		f.c5 = r.commit("dave", "2027-01-21T09:00:00Z", "cs101: back to campus, add cyd")
	}
	r.write("environments/spark.jsonnet", spark("3"))
	f.c6 = r.commit("erin", "2027-02-01T09:00:00Z", "spark: 3 workers")
	if status {
		r.git("", "checkout", "-q", "--orphan", "rensei/status")
		r.git("", "rm", "-rq", "--cached", ".")
		for _, d := range []string{"sites", "environments", "README.md"} {
			os.RemoveAll(filepath.Join(r.dir, d))
		}
		r.write("reports/campus/h0.json", `{"host":"h0","commit":"`+f.c3+`","time":"2027-01-15T09:05:00Z","converged":true,"drift":[],
"applied":[{"host":"campus/h0","kind":"container","name":"cs101_student_ann","action":"replace","reason":"image changed: busybox:1 → busybox:2","env":"cs101"}],"error":null}`)
		r.commit("rensei", "2027-01-15T09:05:00Z", "report: campus/h0 converged")
		r.write("reports/cloud/h0.json", `{"host":"h0","commit":"`+f.c6[:12]+`","time":"2027-02-01T09:10:00Z","converged":false,
"drift":["container spark_worker_2 missing"],"applied":[],"error":"create container spark_worker_2: image missing"}`)
		r.commit("rensei", "2027-02-01T09:10:00Z", "report: cloud/h0 not converged")
		r.write("reports/campus/h0.json", `{not json`)
		r.commit("rensei", "2027-02-02T09:00:00Z", "report: garbage")
		r.git("", "checkout", "-q", "-f", "main")
	}
	return f
}

// signedCommit commits the work tree with go-git, signed by key.
func signedCommit(t *testing.T, dir string, key *openpgp.Entity, who, when, msg string) string {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	at, _ := time.Parse(time.RFC3339, when)
	sig := &object.Signature{Name: who, Email: who + "@example.edu", When: at}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, SignKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func build(t *testing.T, dir string, opts Options) *Timeline {
	t.Helper()
	repo, err := source.OpenRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Now.IsZero() {
		opts.Now = time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	}
	tl, err := Build(repo, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// summary is one line per entry: "commit <hash7>", "report <host>", "window <env> <event>".
func summary(tl *Timeline) []string {
	var out []string
	for _, e := range tl.Entries {
		switch e.Kind {
		case "commit":
			out = append(out, "commit "+e.Commit.Hash[:7])
		case "report":
			out = append(out, "report "+e.Report.Host)
		case "window":
			out = append(out, "window "+e.Window.Env+" "+e.Window.Event)
		}
	}
	return out
}

func TestBuild(t *testing.T) {
	f := newFixture(t, true, nil)
	s := func(h string) string { return h[:7] }
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"all", Options{}, []string{"commit " + s(f.c1), "commit " + s(f.c3), "report campus/h0", "commit " + s(f.c4), "commit " + s(f.c5),
			"commit " + s(f.c6), "report cloud/h0", "report campus/h0", "window cs101 closes"}},
		{"cs101", Options{Env: "cs101"}, []string{"commit " + s(f.c1), "commit " + s(f.c3), "report campus/h0", "commit " + s(f.c4), "commit " + s(f.c5), "window cs101 closes"}},
		{"spark", Options{Env: "spark"}, []string{"commit " + s(f.c1), "commit " + s(f.c4), "commit " + s(f.c6), "report cloud/h0"}},
		{"since", Options{Env: "cs101", Since: time.Date(2027, 1, 16, 0, 0, 0, 0, time.UTC)}, []string{"commit " + s(f.c4), "commit " + s(f.c5), "window cs101 closes"}},
		{"first parent", Options{Env: "spark", FirstParent: true}, []string{"commit " + s(f.c1), "commit " + s(f.c4), "commit " + s(f.c6), "report cloud/h0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := build(t, f.repo.dir, tt.opts)
			got := summary(tl)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if !tl.StatusFound {
				t.Error("status branch not found")
			}
		})
	}
}

// TestCommitDetails: authors, signatures, problems with file and line, and
// diffs against the last valid configuration.
func TestCommitDetails(t *testing.T) {
	key, _ := pgpkey.New(t, "dave")
	f := newFixture(t, false, key)
	tl := build(t, f.repo.dir, Options{Env: "cs101"})
	byHash := map[string]*Commit{}
	for _, e := range tl.Entries {
		if e.Kind == "commit" {
			byHash[e.Commit.Hash] = e.Commit
		}
	}
	c3 := byHash[f.c3]
	if c3 == nil || c3.Author != "carol" || c3.Signature != Unsigned || c3.Subject() != "cs101: busybox 2" {
		t.Fatalf("c3 = %+v", c3)
	}
	if got := strings.Join(c3.Diff.Headlines(), "\n"); !strings.Contains(got, "image busybox:1 → busybox:2") {
		t.Errorf("c3 diff:\n%s", got)
	}
	c4 := byHash[f.c4]
	if c4 == nil || len(c4.Problems) == 0 || c4.Diff != nil {
		t.Fatalf("c4 = %+v", c4)
	}
	if p := c4.Problems[0]; p.File != "environments/cs101.jsonnet" || p.Line == 0 || !strings.Contains(p.Msg, "hokudai") {
		t.Errorf("c4 problem = %+v", p)
	}
	c5 := byHash[f.c5]
	if c5 == nil || c5.Signature != Signed {
		t.Fatalf("c5 = %+v", c5)
	}
	// Compared with c3, the last valid configuration: only cyd is new.
	got := strings.Join(c5.Diff.Headlines(), "\n")
	if !strings.Contains(got, "+cyd") || strings.Contains(got, "image") {
		t.Errorf("c5 diff against the last valid parent:\n%s", got)
	}
	if _, ok := byHash[f.c2]; ok {
		t.Error("a README-only commit is listed")
	}
}

func TestKeyring(t *testing.T) {
	key, pub := pgpkey.New(t, "dave")
	_, other := pgpkey.New(t, "mallory")
	f := newFixture(t, false, key)
	for _, tt := range []struct {
		keyring, want string
	}{{pub, Verified}, {other, Unverified}, {"", Signed}} {
		tl := build(t, f.repo.dir, Options{Env: "cs101", Keyring: tt.keyring})
		for _, e := range tl.Entries {
			if e.Kind != "commit" {
				continue
			}
			want := Unsigned
			if e.Commit.Hash == f.c5 {
				want = tt.want
			}
			if e.Commit.Signature != want {
				t.Errorf("keyring %.20q: %s is %s (%s), want %s", tt.keyring, e.Commit.Hash[:7], e.Commit.Signature, e.Commit.SignatureError, want)
			}
			if e.Commit.Signature == Verified && !strings.Contains(e.Commit.SignedBy, "dave") {
				t.Errorf("signed by %q", e.Commit.SignedBy)
			}
		}
	}
}

func TestNoStatusBranch(t *testing.T) {
	f := newFixture(t, false, nil)
	tl := build(t, f.repo.dir, Options{})
	if tl.StatusFound || !strings.Contains(strings.Join(tl.Notes, "\n"), "no status branch yet") {
		t.Errorf("found %v, notes %q", tl.StatusFound, tl.Notes)
	}
	var b bytes.Buffer
	if err := Render(&b, tl, time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Note: no status branch yet (rensei/status)", "alice <alice@example.edu>  unsigned", "! invalid configuration (1 problem)", "environments/cs101.jsonnet:"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in:\n%s", want, b.String())
		}
	}
}

func TestMissingRef(t *testing.T) {
	f := newFixture(t, false, nil)
	repo, err := source.OpenRepository(f.repo.dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(repo, Options{Ref: "nosuch"})
	if err == nil || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Errorf("err = %v, want one naming the revision", err)
	}
}

// TestEvaluatedOnce: commits with the same configuration share one evaluation.
func TestEvaluatedOnce(t *testing.T) {
	f := newFixture(t, false, nil)
	repo, err := source.OpenRepository(f.repo.dir)
	if err != nil {
		t.Fatal(err)
	}
	tip, err := source.Resolve(repo, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	ev := newEvaluator(repo, Options{})
	commits, err := ancestors(repo, tip.Commit, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commits {
		if _, err := ev.commit(c); err != nil {
			t.Fatal(err)
		}
	}
	// Six commits, five configurations: the README commit shares c1's.
	if len(commits) != 6 || len(ev.byConfig) != 5 {
		t.Errorf("%d commits, %d evaluations; want 6 and 5", len(commits), len(ev.byConfig))
	}
}

func TestParseReport(t *testing.T) {
	tests := []struct {
		name, body string
		check      func(*Report, time.Time) string
	}{
		{"full", `{"host":"h0","commit":"abc1234","time":"2027-01-15T09:05:00Z","converged":true,"drift":[{"action":"create","kind":"container","name":"x_y_0","reason":"missing"}],"applied":["create container x_y_0"],"error":null}`,
			func(r *Report, at time.Time) string {
				if r.Host != "campus/h0" || r.Commit != "abc1234" || r.Converged == nil || !*r.Converged || at.IsZero() ||
					len(r.Drift) != 1 || r.Drift[0] != "create container x_y_0: missing" || r.Applied[0] != "create container x_y_0" || r.Invalid != "" {
					return "fields wrong"
				}
				return ""
			}},
		{"daemon's format", `{"host":"docker","site":"site-a","commit":"abc","time":"2027-01-15T09:05:00.123Z","converged":false,
"drift":[],"applied":[],"failed":[{"kind":"container","name":"lecture_www_0","action":"create","reason":"absent","error":"image missing"}],
"error":"","refused":{"commit":"def4567890","reason":"invalid configuration","held":true}}`,
			func(r *Report, at time.Time) string {
				if r.Host != "site-a/docker" || r.Site != "site-a" || len(r.Failed) != 1 || r.Failed[0] != "create container lecture_www_0: absent: image missing" ||
					r.Refused != "commit def4567: invalid configuration (held)" || at.Nanosecond() != 123e6 || r.Error != "" {
					return "fields wrong"
				}
				return ""
			}},
		{"not json", `{nope`, func(r *Report, _ time.Time) string {
			if !strings.HasPrefix(r.Invalid, "not JSON") || r.Host != "campus/h0" {
				return "want invalid"
			}
			return ""
		}},
		{"array", `[1,2]`, func(r *Report, _ time.Time) string {
			if r.Invalid != "not a JSON object" {
				return "want not an object"
			}
			return ""
		}},
		{"odd types", `{"host":7,"converged":"yes","drift":"one thing","applied":[{"x":1}],"error":{"code":5},"time":"yesterday"}`,
			func(r *Report, at time.Time) string {
				if r.Host != "campus/h0" || r.Converged != nil || r.Drift[0] != "one thing" || r.Applied[0] != `{"x":1}` ||
					r.Error != `{"code":5}` || !at.IsZero() || !strings.Contains(r.Invalid, "yesterday") {
					return "defaults wrong"
				}
				return ""
			}},
		{"empty object", `{}`, func(r *Report, _ time.Time) string {
			if r.Invalid != "" || r.Converged != nil || r.Drift != nil {
				return "want empty report"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, at := parseReport("reports/campus/h0.json", []byte(tt.body))
			if msg := tt.check(r, at); msg != "" {
				t.Errorf("%s: %+v", msg, r)
			}
		})
	}
}

func TestMentions(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want bool
	}{
		{"create container cs101_student_ann", true},
		{"tunnel rs-vx-1 (cs101/lab)", true},
		{"create container cs1010_x_0", false},
		{map[string]any{"env": "cs101"}, true},
		{map[string]any{"host": "cs101"}, false},
		{[]any{"x", map[string]any{"name": "cs101_a_0"}}, true},
	} {
		if got := mentions(tt.v, "cs101"); got != tt.want {
			t.Errorf("mentions(%v) = %v, want %v", tt.v, got, tt.want)
		}
	}
}
