package history_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/history"
	"github.com/rensei-dev/rensei/reconcile/render"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/test/gittest"
	"github.com/rensei-dev/rensei/test/pgpkey"
)

const sitesFile = `local r = import 'rensei.libsonnet';
[
  r.site('campus', [r.host('h0', docker='unix:///run/campus.sock', underlay='198.18.0.1')]),
  r.site('cloud', [r.host('h0', docker='unix:///run/cloud.sock', underlay='198.18.0.2')]),
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
	repo                   *gittest.Repo
	c1, c2, c3, c4, c5, c6 string
}

func newFixture(t *testing.T, withStatus bool, key *openpgp.Entity) *fixture {
	t.Helper()
	f := &fixture{repo: gittest.New(t)}
	r := f.repo
	f.c1 = r.CommitAs("alice", "2027-01-10T09:00:00Z", "cs101 and spark", map[string]string{"sites/lab.jsonnet": sitesFile,
		"environments/cs101.jsonnet": course("busybox:1", "campus", "ann", "bob"), "environments/spark.jsonnet": spark("2")})
	f.c2 = r.CommitAs("bob", "2027-01-12T09:00:00Z", "readme", map[string]string{"README.md": "config\n"})
	f.c3 = r.CommitAs("carol", "2027-01-15T09:00:00Z", "cs101: busybox 2", map[string]string{"environments/cs101.jsonnet": course("busybox:2", "campus", "ann", "bob")})
	f.c4 = r.CommitAs("dave", "2027-01-20T09:00:00Z", "cs101: move to hokudai", map[string]string{"environments/cs101.jsonnet": course("busybox:2", "hokudai", "ann", "bob")})
	fixed := map[string]string{"environments/cs101.jsonnet": course("busybox:2", "campus", "ann", "bob", "cyd")}
	if key != nil {
		f.c5 = r.CommitSigned(key, "dave", "2027-01-21T09:00:00Z", "cs101: back to campus, add cyd", fixed)
	} else {
		f.c5 = r.CommitAs("dave", "2027-01-21T09:00:00Z", "cs101: back to campus, add cyd", fixed)
	}
	f.c6 = r.CommitAs("erin", "2027-02-01T09:00:00Z", "spark: 3 workers", map[string]string{"environments/spark.jsonnet": spark("3")})
	if withStatus {
		r.Git("checkout", "-q", "--orphan", status.DefaultBranch)
		r.Git("rm", "-rq", "--cached", ".")
		for _, d := range []string{"sites", "environments", "README.md"} {
			os.RemoveAll(filepath.Join(r.Dir, d))
		}
		r.CommitAs("rensei", "2027-01-15T09:05:00Z", "report: campus/h0 converged", map[string]string{"reports/campus/h0.json": `{"host":"h0","site":"campus","commit":"` + f.c3 + `","time":"2027-01-15T09:05:00Z","converged":true,"drift":[],
"applied":[{"kind":"container","name":"cs101_student_ann","env":"cs101","action":"replace","reason":"image changed: busybox:1 → busybox:2"}],"failed":[]}`})
		r.CommitAs("rensei", "2027-02-01T09:10:00Z", "report: cloud/h0 not converged", map[string]string{"reports/cloud/h0.json": `{"host":"h0","site":"cloud","commit":"` + f.c6 + `","time":"2027-02-01T09:10:00Z","converged":false,
"drift":[{"kind":"container","name":"spark_worker_2","action":"create","reason":"absent"}],"applied":[],"failed":[],"error":"create container spark_worker_2: image missing"}`})
		r.CommitAs("rensei", "2027-02-02T09:00:00Z", "report: garbage", map[string]string{"reports/campus/h0.json": `{not json`})
		r.Git("checkout", "-q", "-f", "main")
	}
	return f
}

func build(t *testing.T, dir string, opts history.Options) *history.Timeline {
	t.Helper()
	repo, err := gitrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Now.IsZero() {
		opts.Now = time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	}
	tl, err := history.Build(repo, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// summary is one line per entry: "commit <hash7>", "report <host>", "window <env> <event>".
func summary(tl *history.Timeline) []string {
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
		opts history.Options
		want []string
	}{
		{"all", history.Options{}, []string{"commit " + s(f.c1), "commit " + s(f.c3), "report campus/h0", "commit " + s(f.c4), "commit " + s(f.c5),
			"commit " + s(f.c6), "report cloud/h0", "report campus/h0", "window cs101 closes"}},
		{"cs101", history.Options{Env: "cs101"}, []string{"commit " + s(f.c1), "commit " + s(f.c3), "report campus/h0", "commit " + s(f.c4), "commit " + s(f.c5), "window cs101 closes"}},
		{"spark", history.Options{Env: "spark"}, []string{"commit " + s(f.c1), "commit " + s(f.c4), "commit " + s(f.c6), "report cloud/h0"}},
		{"since", history.Options{Env: "cs101", Since: time.Date(2027, 1, 16, 0, 0, 0, 0, time.UTC)}, []string{"commit " + s(f.c4), "commit " + s(f.c5), "window cs101 closes"}},
		{"first parent", history.Options{Env: "spark", FirstParent: true}, []string{"commit " + s(f.c1), "commit " + s(f.c4), "commit " + s(f.c6), "report cloud/h0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := build(t, f.repo.Dir, tt.opts)
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
	tl := build(t, f.repo.Dir, history.Options{Env: "cs101"})
	byHash := map[string]*history.Commit{}
	for _, e := range tl.Entries {
		if e.Kind == "commit" {
			byHash[e.Commit.Hash] = e.Commit
		}
	}
	c3 := byHash[f.c3]
	if c3 == nil || c3.Author != "carol" || c3.Signature != history.Unsigned || c3.Subject() != "cs101: busybox 2" {
		t.Fatalf("c3 = %+v", c3)
	}
	if got := strings.Join(render.Headlines(*c3.Diff), "\n"); !strings.Contains(got, "image busybox:1 → busybox:2") {
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
	if c5 == nil || c5.Signature != history.Signed {
		t.Fatalf("c5 = %+v", c5)
	}
	// Compared with c3, the last valid configuration: only cyd is new.
	got := strings.Join(render.Headlines(*c5.Diff), "\n")
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
	}{{pub, history.Verified}, {other, history.Unverified}, {"", history.Signed}} {
		tl := build(t, f.repo.Dir, history.Options{Env: "cs101", Keyring: tt.keyring})
		for _, e := range tl.Entries {
			if e.Kind != "commit" {
				continue
			}
			want := history.Unsigned
			if e.Commit.Hash == f.c5 {
				want = tt.want
			}
			if e.Commit.Signature != want {
				t.Errorf("keyring %.20q: %s is %s (%s), want %s", tt.keyring, e.Commit.Hash[:7], e.Commit.Signature, e.Commit.SignatureError, want)
			}
			if e.Commit.Signature == history.Verified && !strings.Contains(e.Commit.SignedBy, "dave") {
				t.Errorf("signed by %q", e.Commit.SignedBy)
			}
		}
	}
}

func TestNoStatusBranch(t *testing.T) {
	f := newFixture(t, false, nil)
	tl := build(t, f.repo.Dir, history.Options{})
	if tl.StatusFound || !strings.Contains(strings.Join(tl.Notes, "\n"), "no status branch yet") {
		t.Errorf("found %v, notes %q", tl.StatusFound, tl.Notes)
	}
	var b bytes.Buffer
	if err := render.Timeline(&b, tl, time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)); err != nil {
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
	repo, err := gitrepo.Open(f.repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = history.Build(repo, history.Options{Ref: "nosuch"})
	if err == nil || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Errorf("err = %v, want one naming the revision", err)
	}
}
