package images

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/image"
)

// mergedUsrHooks makes mmdebstrap set up merged /usr itself and install
// usr-is-merged, instead of letting init-system-helpers pull in usrmerge and
// with it perl (about 50 MB).
const mergedUsrHooks = "/usr/share/mmdebstrap/hooks/merged-usr"

// baseRecipe is what the base's hash covers besides its directory: the fixed
// mmdebstrap arguments and the image configuration given at import.
func baseRecipe() []string {
	return append([]string{"mmdebstrap --variant=minbase --hook-dir=" + mergedUsrHooks}, importChanges()...)
}

func importChanges() []string {
	return []string{
		`ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
		`ENV LANG=C.UTF-8`,
		`CMD ["/bin/bash"]`,
	}
}

// buildBase bootstraps the base image with mmdebstrap into a tarball and
// imports it through the Docker API, tagged img.Tag with the labels given.
func (b *builder) buildBase(ctx context.Context, img *Image, labels map[string]string, epoch time.Time) error {
	srcs, err := img.sources()
	if err != nil {
		return err
	}
	mmdebstrap, err := exec.LookPath(b.opts.mmdebstrap())
	if err != nil {
		return fmt.Errorf("image %s: %w (install Debian's mmdebstrap)", img.Name, err)
	}
	if _, err := os.Stat(mergedUsrHooks); err != nil {
		return fmt.Errorf("image %s: mmdebstrap hooks: %w", img.Name, err)
	}
	dir, err := os.MkdirTemp(b.opts.TempDir, "rensei-base-")
	if err != nil {
		return fmt.Errorf("image %s: %w", img.Name, err)
	}
	defer os.RemoveAll(dir)
	for _, f := range img.files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("image %s: %w", img.Name, err)
		}
		if err := os.WriteFile(p, f.data, os.FileMode(f.mode)); err != nil {
			return fmt.Errorf("image %s: %w", img.Name, err)
		}
	}
	out := filepath.Join(dir, "rootfs.tar")
	args := []string{
		"--variant=minbase",
		"--hook-dir=" + mergedUsrHooks,
		"--aptopt=" + filepath.Join(dir, "apt.conf"),
		"--dpkgopt=" + filepath.Join(dir, "dpkg.cfg"),
		"--customize-hook=sh " + filepath.Join(dir, "customize.sh") + ` "$1"`,
	}
	if pkgs := img.lines("packages"); len(pkgs) > 0 {
		args = append(args, "--include="+strings.Join(pkgs, ","))
	}
	args = append(args, srcs[0].suite, out)
	for _, s := range srcs {
		args = append(args, s.line)
	}
	cmd := exec.CommandContext(ctx, mmdebstrap, args...)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(epoch.Unix(), 10))
	tail := &tailWriter{log: b.log.With("name", img.Name), max: 40}
	cmd.Stdout, cmd.Stderr = tail, tail
	// mmdebstrap mounts /proc, /sys and /dev into its chroot: on
	// cancellation it gets SIGTERM and time to unmount, SIGKILL only after.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	b.log.Info("mmdebstrap", "kind", "image", "name", img.Name, "suite", srcs[0].suite, "archive_date", epoch.Format(time.RFC3339))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("image %s: mmdebstrap: %w\n%s", img.Name, err, tail.String())
	}

	f, err := os.Open(out)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.Name, err)
	}
	defer f.Close()
	changes := importChanges()
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		changes = append(changes, "LABEL "+k+"="+strconv.Quote(labels[k]))
	}
	rc, err := b.cli.ImageImport(ctx, image.ImportSource{Source: f, SourceName: "-"}, img.Tag, image.ImportOptions{
		Message: "mmdebstrap --variant=minbase " + srcs[0].suite,
		Changes: changes,
	})
	if err != nil {
		return fmt.Errorf("image %s: import: %w", img.Name, err)
	}
	defer rc.Close()
	if err := readMessages(rc, b.log.With("name", img.Name)); err != nil {
		return fmt.Errorf("image %s: import: %w", img.Name, err)
	}
	return nil
}

// archiveLabels reads the Date of every suite the base's sources.list names
// from the archive's InRelease files, and returns them as labels and the
// newest one: the archive state this build installs from.
func archiveLabels(ctx context.Context, base *Image) (map[string]string, time.Time, error) {
	srcs, err := base.sources()
	if err != nil {
		return nil, time.Time{}, err
	}
	labels := map[string]string{LabelDebianSuite: srcs[0].suite}
	var newest time.Time
	for _, s := range srcs {
		date, err := releaseDate(ctx, s.uri+"/dists/"+s.suite+"/InRelease")
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("image %s: suite %s: %w", base.Name, s.suite, err)
		}
		labels[LabelDebianRelease+s.suite] = date.Format(time.RFC3339)
		if date.After(newest) {
			newest = date
		}
	}
	labels[LabelDebianDate] = newest.Format(time.RFC3339)
	return labels, newest, nil
}

// releaseDate returns the Date field of a Release or InRelease file.
func releaseDate(ctx context.Context, url string) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return time.Time{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return time.Time{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 64<<10))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "Date:"); ok {
			v = strings.TrimSpace(v)
			for _, layout := range []string{time.RFC1123, time.RFC1123Z} {
				if t, err := time.Parse(layout, v); err == nil {
					return t.UTC(), nil
				}
			}
			return time.Time{}, fmt.Errorf("%s: Date %q: not RFC 1123", url, v)
		}
		if strings.HasPrefix(line, "MD5Sum:") || strings.HasPrefix(line, "SHA256:") {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return time.Time{}, fmt.Errorf("GET %s: %w", url, err)
	}
	return time.Time{}, errors.New(url + ": no Date field")
}

// tailWriter logs a command's output line by line at debug level and keeps
// the last lines for an error message.
type tailWriter struct {
	log     *slog.Logger
	max     int
	partial []byte
	lines   []string
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := strings.IndexByte(string(w.partial), '\n')
		if i < 0 {
			break
		}
		w.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *tailWriter) line(l string) {
	l = strings.TrimRight(l, "\r")
	if l == "" {
		return
	}
	w.log.Debug(l, "kind", "image")
	w.lines = append(w.lines, l)
	if len(w.lines) > w.max {
		w.lines = w.lines[len(w.lines)-w.max:]
	}
}

func (w *tailWriter) String() string {
	if len(w.partial) > 0 {
		w.line(string(w.partial))
		w.partial = nil
	}
	return strings.Join(w.lines, "\n")
}
