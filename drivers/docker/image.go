package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/drivers"
)

// pullTimeout bounds one image pull, so a slow or unreachable registry
// delays a pass by at most this much.
const pullTimeout = 30 * time.Second

// pull fetches ref onto the engine for the container name. Any failure,
// including one reported inside the progress stream, is returned wrapping
// drivers.ErrImageMissing and naming the image and the host.
func (d *Driver) pull(ctx context.Context, name, ref string) error {
	missing := func(err error) error {
		if name == "" {
			return fmt.Errorf("image %s on %s: %w: pull: %w", ref, d.host, drivers.ErrImageMissing, err)
		}
		return fmt.Errorf("container %s on %s: image %s: %w: pull: %w", name, d.host, ref, drivers.ErrImageMissing, err)
	}
	// Pulling an untagged name would otherwise fetch every tag.
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return missing(err)
	}
	named = reference.TagNameOnly(named)

	ctx, cancel := context.WithTimeout(ctx, pullTimeout)
	defer cancel()
	d.log.Info("image pull", "kind", "image", "name", ref, "action", "pull")
	rc, err := d.cli.ImagePull(ctx, named.String(), image.PullOptions{})
	if err != nil {
		return missing(classify(err))
	}
	defer rc.Close()
	if err := drainPull(rc); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w after %s: %w", ctx.Err(), pullTimeout, err)
		}
		return missing(err)
	}
	return nil
}

// pullMessage is the part of a progress line that carries a failure.
type pullMessage struct {
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// drainPull reads the progress stream to its end: the pull is only done (or
// known to have failed) when the engine closes it.
func drainPull(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m pullMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read progress: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

// Images is the driver's view of the engine's images.
type Images struct{ d *Driver }

// Images returns the driver's view of the host's images.
func (d *Driver) Images() Images { return Images{d: d} }

// ID returns the image ID of ref on the engine.
func (i Images) ID(ctx context.Context, ref string) (string, error) {
	inspect, err := i.d.cli.ImageInspect(ctx, ref)
	if err != nil {
		return "", i.d.fail("image", ref, "inspect", err)
	}
	return inspect.ID, nil
}

// Pull fetches ref from its registry.
func (i Images) Pull(ctx context.Context, ref string) error { return i.d.pull(ctx, "", ref) }

// Save streams ref as a docker save archive (by tag, so a load tags it).
func (i Images) Save(ctx context.Context, ref string) (io.ReadCloser, error) {
	rc, err := i.d.cli.ImageSave(ctx, []string{ref})
	if err != nil {
		return nil, i.d.fail("image", ref, "save", err)
	}
	return rc, nil
}

// Load adds the images of a docker save archive; an error reported inside
// the engine's answer is returned.
func (i Images) Load(ctx context.Context, archive io.Reader) error {
	resp, err := i.d.cli.ImageLoad(ctx, archive, client.ImageLoadWithQuiet(true))
	if err != nil {
		return i.d.fail("image", "", "load", err)
	}
	defer resp.Body.Close()
	if resp.JSON {
		if err := drainPull(resp.Body); err != nil {
			return i.d.fail("image", "", "load", err)
		}
		return nil
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
