package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/images"
	"github.com/rensei-dev/rensei/test/gittest"
	"github.com/rensei-dev/rensei/test/lab"
	"github.com/rensei-dev/rensei/test/lab/labtest"
)

// The research examples (examples/hpc, data-analysis, backup-site,
// lb-service, bigdata-workflow) on the lab: each test copies its example
// into a Git work tree, applies it with the built binary, and asserts on
// what the software computed (job output, sums and which worker at which
// site ran each task, replicated bytes and restore checksums, requests
// served during an outage), never on container states alone. Each logs
// the figures the example's README quotes (lines starting "figure:").

// researchLab is one research example on a fresh three-site lab.
type researchLab struct {
	t       *testing.T
	docker  map[string]string // site → Docker endpoint
	repo    *gittest.Repo
	secrets string
}

// newResearchLab gives the test a fresh lab with images (names of
// directories of images/, e.g. "slurm") built on this machine's engine
// (cached by content hash) and loaded into every site, and the example
// committed in a Git work tree.
func newResearchLab(t *testing.T, example string, imageNames ...string) *researchLab {
	t.Helper()
	st := labtest.ForTest(t, 3)
	l := &researchLab{t: t, docker: map[string]string{}, repo: gittest.New(t), secrets: t.TempDir()}
	for _, s := range st.Sites {
		l.docker[s.Name] = s.Docker
	}
	loadImages(t, imageNames...)
	src := filepath.Join(repoRoot, "examples", example)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		l.repo.Write(filepath.ToSlash(rel), string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	l.repo.Commit("examples/"+example, nil)
	return l
}

// loadImages builds the images (directories of images/) when missing or
// stale (a few ms when cached) and loads them into every lab site; it logs
// the time and each image's size.
func loadImages(t testing.TB, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	start := time.Now()
	built, err := images.Build(ctx, cli, images.Options{Names: names})
	if err != nil {
		t.Fatalf("build %v: %v", names, err)
	}
	var tags []string
	for _, b := range built {
		for _, n := range names {
			if b.Name == n {
				tags = append(tags, b.Tag)
				t.Logf("figure: image %s %d MB", b.Tag, b.Size/1_000_000)
			}
		}
	}
	buildTook := time.Since(start)
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	if err := lab.LoadImages(ctx, lab.Options{Log: log}, tags...); err != nil {
		t.Fatal(err)
	}
	t.Logf("images %v: built or found in %s, loaded into the sites in %s", tags,
		buildTook.Round(time.Millisecond), (time.Since(start) - buildTook).Round(time.Millisecond))
}

// secret puts a secret into the secrets directory the commands use.
func (l *researchLab) secret(name, value string) {
	l.t.Helper()
	if err := os.WriteFile(filepath.Join(l.secrets, name), []byte(value+"\n"), 0o600); err != nil {
		l.t.Fatal(err)
	}
}

// edit replaces old by new in a file of the work tree (not committed).
func (l *researchLab) edit(rel, old, new string) {
	l.t.Helper()
	p := filepath.Join(l.repo.Dir, filepath.FromSlash(rel))
	b, err := os.ReadFile(p)
	if err != nil {
		l.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		l.t.Fatalf("%s does not contain %q", rel, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// commit commits the work tree as it is.
func (l *researchLab) commit(msg string) string {
	l.t.Helper()
	return l.repo.Commit(msg, nil)
}

// rensei runs a command on the repository with the lab's secrets and
// fails the test unless it exits with want.
func (l *researchLab) rensei(want int, args ...string) result {
	l.t.Helper()
	return mustRensei(l.t, want, append(args, "--secrets-dir", l.secrets, l.repo.Dir)...)
}

// exec runs a command in a container at a site and returns its standard
// output.
func (l *researchLab) exec(site, container string, args ...string) (string, error) {
	return stdout("docker", append([]string{"-H", l.docker[site], "exec", container}, args...)...)
}

// stdout runs a tool and returns its standard output; the error of a
// failure holds its standard error. Programs such as srun report progress
// on standard error, which must not mix with their output.
func stdout(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(errOut.Bytes()))
	}
	return out.String(), nil
}

// mustExec is exec that fails the test on error.
func (l *researchLab) mustExec(site, container string, args ...string) string {
	l.t.Helper()
	out, err := l.exec(site, container, args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// writeFile writes content to path inside a container (as root).
func (l *researchLab) writeFile(site, container, path, content string) {
	l.t.Helper()
	l.mustExec(site, container, "bash", "-c", `mkdir -p "$(dirname "$1")" && printf '%s' "$2" > "$1"`, "-", path, content)
}

// state is a container's state at a site ("" when absent).
func (l *researchLab) state(site, container string) string {
	out, err := command("docker", "-H", l.docker[site], "inspect", "-f", "{{.State.Status}}", container)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// eventually calls f every 250 ms until it returns nil and returns how
// long that took; after timeout the test fails with f's last error.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for {
		if err = f(); err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not after %s: %v", what, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// sha256Tree lists "sha256  ./path" for every file under dir in a
// container, sorted by path (lost+found left out).
func (l *researchLab) sha256Tree(site, container, dir string) string {
	l.t.Helper()
	sums, err := l.sha256TreeNow(site, container, dir)
	if err != nil {
		l.t.Fatal(err)
	}
	return sums
}

// sha256TreeNow is sha256Tree for a tree that may be changing (a standby
// that rsync is updating): a file renamed away between the listing and
// its hash is an error to retry, not a failure.
func (l *researchLab) sha256TreeNow(site, container, dir string) (string, error) {
	return l.exec(site, container, "bash", "-c",
		`cd "$1" && find . -type f ! -path './lost+found/*' -print0 | sort -z | xargs -0 -r sha256sum`, "-", dir)
}

// figure logs one of the figures the example's README quotes.
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("figure: "+format, args...)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
