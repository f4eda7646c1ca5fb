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
