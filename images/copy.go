package images

import (
	"context"
	"fmt"
	"io"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
)

// Copy makes the engine behind to hold the image ref (a tag) exactly as the
// engine behind from holds it: it saves the image from one engine, loads it
// into the other and checks that the image ID there is the same. It does
// nothing when to already has ref with that ID. Nothing is written to disk:
// the save stream is fed straight into the load.
func Copy(ctx context.Context, from, to client.APIClient, ref string) error {
	src, err := from.ImageInspect(ctx, ref)
	if err != nil {
		return fmt.Errorf("image %s: inspect source: %w", ref, err)
	}
	if dst, err := to.ImageInspect(ctx, ref); err == nil && dst.ID == src.ID {
		return nil
	} else if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("image %s: inspect target: %w", ref, err)
	}
	// Save by tag, not ID: only then does the archive name the tag, and the
	// load tags the image.
	rc, err := from.ImageSave(ctx, []string{ref})
	if err != nil {
		return fmt.Errorf("image %s: save: %w", ref, err)
	}
	defer rc.Close()
	resp, err := to.ImageLoad(ctx, rc, client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("image %s: load: %w", ref, err)
	}
	defer resp.Body.Close()
	if resp.JSON {
		err = readMessages(resp.Body, discard)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	if err != nil {
		return fmt.Errorf("image %s: load: %w", ref, err)
	}
	dst, err := to.ImageInspect(ctx, ref)
	if err != nil {
		return fmt.Errorf("image %s: inspect after load: %w", ref, err)
	}
	if dst.ID != src.ID {
		return fmt.Errorf("image %s: loaded image ID %s, want %s", ref, dst.ID, src.ID)
	}
	return nil
}
