package gitrepo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
)

// bareRemote makes a bare repository holding the quickstart on main, and
// returns it with a work tree that pushes to it.
func bareRemote(t *testing.T) (bare, work string) {
	t.Helper()
	work = gitRepo(t)
	bare = filepath.Join(t.TempDir(), "config.git")
	git(t, work, "init", "-q", "--bare", "-b", "main", bare)
	git(t, work, "remote", "add", "origin", bare)
	git(t, work, "push", "-q", "origin", "main")
	return bare, work
}

func TestRemoteHeadFetchResolve(t *testing.T) {
	bare, work := bareRemote(t)
	ctx := context.Background()
	for _, url := range []string{bare, "file://" + bare} {
		t.Run(url, func(t *testing.T) {
			r, err := gitrepo.OpenRemote(url, t.TempDir(), gitrepo.Credentials{})
			if err != nil {
				t.Fatal(err)
			}
			head, err := r.Head(ctx, "main")
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSpace(git(t, work, "rev-parse", "HEAD"))
			if head != want {
				t.Fatalf("head %s, want %s", head, want)
			}
			got, err := r.Fetch(ctx, "main")
			if err != nil || got != head {
				t.Fatalf("fetch: %s, %v; want %s", got, err, head)
			}
			rev, err := r.Resolve(got)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rev.FS.Open("sites/local.jsonnet"); err != nil {
				t.Fatalf("resolved tree: %v", err)
			}
			// A new commit moves the head; the old cache follows on fetch.
			write(t, work, "environments/more.jsonnet", "{ name: 'more', groups: [] }\n")
			git(t, work, "add", ".")
			git(t, work, "commit", "-q", "-m", "more")
			git(t, work, "push", "-q", "origin", "main")
			moved, err := r.Head(ctx, "main")
			if err != nil || moved == head {
				t.Fatalf("head after push: %s, %v", moved, err)
			}
			if got, err := r.Fetch(ctx, "main"); err != nil || got != moved {
				t.Fatalf("fetch after push: %s, %v; want %s", got, err, moved)
			}
			if _, err := r.Head(ctx, "nope"); !errors.Is(err, gitrepo.ErrNoBranch) {
				t.Fatalf("missing branch: %v, want ErrNoBranch", err)
			}
			git(t, work, "reset", "-q", "--hard", "HEAD~1") // leave work as it was for the next URL form
			git(t, work, "push", "-q", "-f", "origin", "main")
		})
	}
}

func TestRemoteUnreachableNamesRemote(t *testing.T) {
	bare, _ := bareRemote(t)
	ctx := context.Background()
	r, err := gitrepo.OpenRemote(bare, t.TempDir(), gitrepo.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bare, bare+".away"); err != nil {
		t.Fatal(err)
	}
	_, err = r.Head(ctx, "main")
	if !errors.Is(err, gitrepo.ErrRemoteUnreachable) || !strings.Contains(err.Error(), bare) {
		t.Fatalf("head of a missing repository: %v; want ErrRemoteUnreachable naming %s", err, bare)
	}
	if _, err = r.Fetch(ctx, "main"); !errors.Is(err, gitrepo.ErrRemoteUnreachable) {
		t.Fatalf("fetch of a missing repository: %v; want ErrRemoteUnreachable", err)
	}
	if err := os.Rename(bare+".away", bare); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Head(ctx, "main"); err != nil {
		t.Fatalf("back again: %v", err)
	}
}

func TestRemoteURLPasswordRedacted(t *testing.T) {
	const secret = "s3cr3t-token"
	url := "https://rensei:" + secret + "@127.0.0.1:1/config.git"
	if got := gitrepo.Redact(url); strings.Contains(got, secret) || !strings.Contains(got, "127.0.0.1:1") {
		t.Fatalf("Redact(%q) = %q", url, got)
	}
	t.Setenv("RENSEI_TEST_TOKEN", secret)
	r, err := gitrepo.OpenRemote(url, t.TempDir(), gitrepo.Credentials{TokenEnv: "RENSEI_TEST_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Head(context.Background(), "main")
	if err == nil || !errors.Is(err, gitrepo.ErrRemoteUnreachable) {
		t.Fatalf("head of a closed port: %v", err)
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(r.Name(), secret) {
		t.Fatalf("secret leaked: %v / %s", err, r.Name())
	}
}

func TestCredentialFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := gitrepo.OpenRemote("https://example.invalid/x.git", dir, gitrepo.Credentials{TokenFile: filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("a missing token file is an error")
	}
	if _, err := gitrepo.OpenRemote("ssh://git@example.invalid/x.git", dir, gitrepo.Credentials{SSHKeyFile: filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("a missing key file is an error")
	}
}

// TestUpdateBranchCompareAndSwap: a writer whose cache is behind is
// rejected, fetches the new tip and writes again on it, so no update is
// lost; an update that writes nothing makes no commit.
func TestUpdateBranchCompareAndSwap(t *testing.T) {
	bare, _ := bareRemote(t)
	ctx := context.Background()
	open := func() *gitrepo.Remote {
		r, err := gitrepo.OpenRemote(bare, t.TempDir(), gitrepo.Credentials{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := open(), open()
	write := func(r *gitrepo.Remote, path, content string) string {
		t.Helper()
		calls := 0
		h, err := r.UpdateBranch(ctx, "status", gitrepo.Update{}, func(f *gitrepo.Files) (string, error) {
			calls++
			f.Write(path, []byte(content))
			return "write " + path, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s written in %d attempt(s)", path, calls)
		return h
	}
	write(a, "reports/a.json", "a")
	write(b, "reports/b.json", "b") // b's cache has never seen the branch: rejected, then rebuilt
	rev, err := a.ReadBranch(ctx, "status")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"reports/a.json", "reports/b.json"} {
		if _, err := rev.FS.Open(p); err != nil {
			t.Errorf("%s lost: %v", p, err)
		}
	}
	h, err := a.UpdateBranch(ctx, "status", gitrepo.Update{Fetch: true}, func(f *gitrepo.Files) (string, error) {
		got, err := f.Read("reports/b.json")
		if string(got) != "b" {
			t.Errorf("read b: %q, %v", got, err)
		}
		return "nothing", nil
	})
	if err != nil || h != "" {
		t.Errorf("an update writing nothing: commit %q, %v", h, err)
	}
	if _, err := a.ReadBranch(ctx, "nope"); !errors.Is(err, gitrepo.ErrNoBranch) {
		t.Errorf("missing branch: %v, want ErrNoBranch", err)
	}
}

// TestUpdateBranchPushesWhatItWrote: each update sends the objects its
// commit added (not a walk of the remote's history): after many updates
// from two writers over plain and file:// URLs, the remote is complete
// (git fsck) and every file holds its last content.
func TestUpdateBranchPushesWhatItWrote(t *testing.T) {
	bare, work := bareRemote(t)
	ctx := context.Background()
	var writers []*gitrepo.Remote
	for _, url := range []string{bare, "file://" + bare} {
		r, err := gitrepo.OpenRemote(url, t.TempDir(), gitrepo.Credentials{})
		if err != nil {
			t.Fatal(err)
		}
		writers = append(writers, r)
	}
	for i := range 40 {
		r := writers[i%2]
		path := fmt.Sprintf("reports/site-%d/h.json", i%5)
		if _, err := r.UpdateBranch(ctx, "status", gitrepo.Update{}, func(f *gitrepo.Files) (string, error) {
			f.Write(path, []byte(fmt.Sprint(i)))
			f.Write("leases/all.json", []byte(fmt.Sprint("lease ", i)))
			return fmt.Sprint("update ", i), nil
		}); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	git(t, work, "-C", bare, "fsck", "--strict", "--no-dangling")
	if n := strings.TrimSpace(git(t, work, "-C", bare, "rev-list", "--count", "status")); n != "40" {
		t.Errorf("%s commits on status, want 40", n)
	}
	for site, want := range []string{"35", "36", "37", "38", "39"} {
		if got := git(t, work, "-C", bare, "show", fmt.Sprintf("status:reports/site-%d/h.json", site)); got != want {
			t.Errorf("site-%d: %q, want %q", site, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://ghp_SECRET@github.com/o/r.git": "https://xxxxx@github.com/o/r.git",
		"https://user:SECRET@host/r.git":        "https://xxxxx@host/r.git",
		"https://x:p%zzSECRET@host/r.git":       "<unparseable remote URL>",
		"ssh://git@host/r.git":                  "ssh://git@host/r.git",
		"ssh://git:SECRET@host/r.git":           "ssh://git:xxxxx@host/r.git",
		"git@github.com:o/r.git":                "git@github.com:o/r.git",
		"/srv/config.git":                       "/srv/config.git",
		"https://github.com/o/r.git":            "https://github.com/o/r.git",
	} {
		if got := gitrepo.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
