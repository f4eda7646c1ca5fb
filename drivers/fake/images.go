package fake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/rensei-dev/rensei/drivers"
)

// ImageID is the ID a fake host gives image ref: the same on every fake
// host, as a real image keeps its ID when saved and loaded.
func ImageID(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// images is the images view of a fake host. Without SetImages every image
// is present.
type images struct{ h *Host }

func (i images) ID(_ context.Context, ref string) (string, error) {
	h := i.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("image", "inspect", ref); err != nil {
		return "", err
	}
	if h.images != nil && !h.images[ref] {
		return "", fmt.Errorf("image %s on %s: %w", ref, h.name, drivers.ErrNotFound)
	}
	return ImageID(ref), nil
}

// Pull fails: fake hosts reach no registry.
func (i images) Pull(_ context.Context, ref string) error {
	h := i.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("image", "pull", ref); err != nil {
		return err
	}
	return fmt.Errorf("image %s on %s: %w: no registry", ref, h.name, drivers.ErrImageMissing)
}

// Save returns an archive that is the reference, a line.
func (i images) Save(_ context.Context, ref string) (io.ReadCloser, error) {
	h := i.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("image", "save", ref); err != nil {
		return nil, err
	}
	if h.images != nil && !h.images[ref] {
		return nil, fmt.Errorf("image %s on %s: %w", ref, h.name, drivers.ErrNotFound)
	}
	return io.NopCloser(strings.NewReader(ref + "\n")), nil
}

// Load adds the image an archive from Save names.
func (i images) Load(_ context.Context, archive io.Reader) error {
	b, err := io.ReadAll(archive)
	if err != nil {
		return err
	}
	ref := string(bytes.TrimSpace(b))
	h := i.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enter("image", "load", ref); err != nil {
		return err
	}
	if h.images != nil {
		h.images[ref] = true
	}
	return nil
}
