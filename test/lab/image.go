package lab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/test/images"
)

// imageSource hands out the lab image as the host engine has it, building it
// there first if it is images.Busybox and missing. It asks the host engine
// only when a site needs it, and saves the image at most once per Up.
type imageSource struct {
	tag string

	mu      sync.Mutex
	host    *client.Client
	id      string
	archive []byte
}

func newImageSource(tag string) *imageSource { return &imageSource{tag: tag} }

func (i *imageSource) close() {
	if i.host != nil {
		i.host.Close()
	}
}

// hostID returns the image's ID on the host engine. Callers hold i.mu.
func (i *imageSource) hostID(ctx context.Context) (string, error) {
	if i.id != "" {
		return i.id, nil
	}
	if i.host == nil {
		cli, err := client.NewClientWithOpts(client.WithHost(hostDocker), client.WithAPIVersionNegotiation())
		if err != nil {
			return "", fmt.Errorf("image %s: host engine: %w", i.tag, err)
		}
		i.host = cli
	}
	if i.tag == images.Busybox {
		if err := images.Ensure(ctx, i.host, i.tag); err != nil {
			return "", fmt.Errorf("host engine: %w", err)
		}
	}
	inspect, err := i.host.ImageInspect(ctx, i.tag)
	if err != nil {
		return "", fmt.Errorf("image %s: host engine: %w", i.tag, err)
	}
	i.id = inspect.ID
	return i.id, nil
}

// get returns the image's ID and, if withArchive, its `docker save` archive.
func (i *imageSource) get(ctx context.Context, withArchive bool) (string, []byte, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	id, err := i.hostID(ctx)
	if err != nil || !withArchive || i.archive != nil {
		return id, i.archive, err
	}
	rc, err := i.host.ImageSave(ctx, []string{i.tag})
	if err != nil {
		return "", nil, fmt.Errorf("image %s: save from host engine: %w", i.tag, err)
	}
	defer rc.Close()
	if i.archive, err = io.ReadAll(rc); err != nil {
		i.archive = nil
		return "", nil, fmt.Errorf("image %s: save from host engine: %w", i.tag, err)
	}
	return id, i.archive, nil
}

// ensureImage makes the site engine hold the same image as the host engine
// under tag, loading it when it is missing or differs. If the host engine is
// unreachable but the site already has the tag, that is kept.
func ensureImage(ctx context.Context, s site, img *imageSource, tag string) error {
	cli, err := siteClient(s)
	if err != nil {
		return err
	}
	defer cli.Close()
	have, err := cli.ImageInspect(ctx, tag)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("%s: image %s: inspect: %w", s.name, tag, err)
	}
	want, _, hostErr := img.get(ctx, false)
	switch {
	case hostErr != nil && have.ID != "":
		s.log.Warn("host engine unavailable; keeping the site's image", "action", "keep", "name", tag, "err", hostErr)
		return nil
	case hostErr != nil:
		return fmt.Errorf("%s: %w", s.name, hostErr)
	case have.ID == want:
		return nil
	}
	_, archive, err := img.get(ctx, true)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	resp, err := cli.ImageLoad(ctx, bytes.NewReader(archive), client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("%s: image %s: load: %w", s.name, tag, err)
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("%s: image %s: load: %w", s.name, tag, err)
	}
	if bytes.Contains(out, []byte(`"errorDetail"`)) {
		return fmt.Errorf("%s: image %s: load: %s", s.name, tag, bytes.TrimSpace(out))
	}
	s.log.Info("image loaded", "action", "load", "name", tag)
	return nil
}
