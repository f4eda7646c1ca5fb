package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

// Options says what Build builds.
type Options struct {
	// Names are the images to build (directory names or tags), each with the
	// images it is built FROM; none means every image of the tree.
	Names []string
	// Force builds even when an image with the same content hash exists, and
	// without the engine's layer cache, so packages are fetched anew.
	Force bool
	// Tree is the image tree; nil means the one compiled into this package.
	Tree *Tree
	// TempDir holds the base's root file system tarball while it is imported
	// (a few hundred MB at most); "" means the system's temporary directory.
	TempDir string
	// Mmdebstrap is the mmdebstrap program; "" means "mmdebstrap" in PATH.
	Mmdebstrap string
	// Logger gets one line per image at info level, and the build output at
	// debug level; nil discards.
	Logger *slog.Logger
}

func (o Options) mmdebstrap() string {
	if o.Mmdebstrap != "" {
		return o.Mmdebstrap
	}
	return "mmdebstrap"
}

// Built is one image that Build found or made.
type Built struct {
	Name     string
	Tag      string
	ID       string // sha256:…
	Size     int64  // bytes, with the layers it shares with its parents
	Hash     string // the content hash (LabelHash)
	Cached   bool   // an image with this tag and hash was already there
	Duration time.Duration
}

// Build makes sure the engine behind cli has each image of opts (and the
// images they are built FROM) at its tag with its current content hash,
// building parents first; images already there are left alone. It keeps
// going past a failed image with the images that do not need it, and returns
// what it found or built together with every error joined.
func Build(ctx context.Context, cli client.APIClient, opts Options) ([]Built, error) {
	t := opts.Tree
	if t == nil {
		var err error
		if t, err = Embedded(); err != nil {
			return nil, err
		}
	}
	imgs, err := t.Closure(opts.Names...)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &builder{cli: cli, opts: opts, log: log, tree: t}
	failed := map[string]bool{}
	var out []Built
	var errs []error
	for _, img := range imgs {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		var blocked []string
		for _, p := range img.Parents {
			if failed[p] {
				blocked = append(blocked, p)
			}
		}
		if len(blocked) > 0 {
			failed[img.Name] = true
			errs = append(errs, fmt.Errorf("image %s: not built: %s failed", img.Name, strings.Join(blocked, ", ")))
			continue
		}
		r, err := b.ensure(ctx, img)
		if err != nil {
			failed[img.Name] = true
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

type builder struct {
	cli  client.APIClient
	opts Options
	log  *slog.Logger
	tree *Tree

	archive      map[string]string // archiveLabels, read once per Build
	archiveDate  time.Time
	archiveError error
	archiveRead  bool
}

func (b *builder) ensure(ctx context.Context, img *Image) (Built, error) {
	start := time.Now()
	r := Built{Name: img.Name, Tag: img.Tag, Hash: img.Hash}
	old, err := b.cli.ImageInspect(ctx, img.Tag)
	switch {
	case err == nil && !b.opts.Force && old.Config != nil && old.Config.Labels[LabelHash] == img.Hash:
		r.ID, r.Size, r.Cached, r.Duration = old.ID, old.Size, true, time.Since(start)
		b.log.Info("image up to date", "kind", "image", "name", img.Name, "action", "cached", "tag", img.Tag)
		return r, nil
	case err != nil && !cerrdefs.IsNotFound(err):
		return r, fmt.Errorf("image %s: inspect: %w", img.Name, err)
	}
	labels, err := b.labels(ctx)
	if err != nil {
		return r, err
	}
	labels[LabelName] = img.Name
	labels[LabelHash] = img.Hash
	b.log.Info("building image", "kind", "image", "name", img.Name, "action", "build", "tag", img.Tag)
	if img.Name == BaseName {
		err = b.buildBase(ctx, img, labels, b.archiveDate)
	} else {
		err = b.buildDockerfile(ctx, img, labels)
	}
	if err != nil {
		return r, err
	}
	ins, err := b.cli.ImageInspect(ctx, img.Tag)
	if err != nil {
		return r, fmt.Errorf("image %s: inspect after build: %w", img.Name, err)
	}
	if ins.Config == nil || ins.Config.Labels[LabelHash] != img.Hash {
		return r, fmt.Errorf("image %s: %s does not carry hash %s after the build", img.Name, img.Tag, img.Hash)
	}
	r.ID, r.Size, r.Duration = ins.ID, ins.Size, time.Since(start)
	b.log.Info("built image", "kind", "image", "name", img.Name, "action", "built", "tag", img.Tag,
		"id", ins.ID, "size", ins.Size, "duration", r.Duration.Round(time.Millisecond))
	return r, nil
}

// labels returns the archive labels every image built in this run carries:
// a Dockerfile's apt-get install reads the archive as it is now, not as it
// was when the base was made.
func (b *builder) labels(ctx context.Context) (map[string]string, error) {
	if !b.archiveRead {
		b.archiveRead = true
		if base := b.tree.Image(BaseName); base != nil {
			b.archive, b.archiveDate, b.archiveError = archiveLabels(ctx, base)
		}
	}
	if b.archiveError != nil {
		return nil, b.archiveError
	}
	labels := map[string]string{}
	for k, v := range b.archive {
		labels[k] = v
	}
	return labels, nil
}

// buildDockerfile builds a Dockerfile directory with the engine's classic
// builder; the context is the directory as a tar made here, identical for
// identical content.
func (b *builder) buildDockerfile(ctx context.Context, img *Image, labels map[string]string) error {
	tarball, err := contextTar(img.files)
	if err != nil {
		return fmt.Errorf("image %s: build context: %w", img.Name, err)
	}
	resp, err := b.cli.ImageBuild(ctx, bytes.NewReader(tarball), build.ImageBuildOptions{
		Tags:        []string{img.Tag},
		Dockerfile:  "Dockerfile",
		Labels:      labels,
		Remove:      true,
		ForceRemove: true,
		NoCache:     b.opts.Force,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("image %s: build: %w", img.Name, err)
	}
	defer resp.Body.Close()
	if err := readMessages(resp.Body, b.log.With("name", img.Name)); err != nil {
		return fmt.Errorf("image %s: build: %w", img.Name, err)
	}
	return nil
}

// contextTar packs files with fixed owners and times.
func contextTar(files []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dirs := map[string]bool{}
	var dirList []string
	for _, f := range files {
		for d := path.Dir(f.path); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			dirList = append(dirList, d)
		}
	}
	sort.Strings(dirList)
	for _, d := range dirList {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		h := &tar.Header{Name: f.path, Typeflag: tar.TypeReg, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// message is one of the engine's JSON progress messages (the part of
// jsonmessage.JSONMessage read here, without its terminal dependencies).
type message struct {
	Stream      string `json:"stream"`
	Status      string `json:"status"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// readMessages reads a stream of the engine's JSON progress messages to the
// end, logs them at debug level and returns the first error one carries,
// with the last lines before it.
func readMessages(r io.Reader, log *slog.Logger) error {
	dec := json.NewDecoder(r)
	tail := &tailWriter{log: log, max: 30}
	for {
		var m message
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read progress: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return fmt.Errorf("%s\n%s", m.ErrorDetail.Message, tail.String())
		}
		if m.Error != "" {
			return fmt.Errorf("%s\n%s", m.Error, tail.String())
		}
		switch {
		case m.Stream != "":
			_, _ = tail.Write([]byte(m.Stream))
		case m.Status != "":
			_, _ = tail.Write([]byte(m.Status + "\n"))
		}
	}
}
