package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/rensei-dev/rensei/drivers"
)

// defaultFileMode applies to files whose spec gives no mode.
const defaultFileMode = 0o644

// copyFiles unpacks archive (built by filesTar) at "/" in the created, not
// yet started, container. A nil archive copies nothing.
func (d *Driver) copyFiles(ctx context.Context, id string, archive []byte) error {
	if archive == nil {
		return nil
	}
	return d.cli.CopyToContainer(ctx, id, "/", bytes.NewReader(archive), container.CopyToContainerOptions{})
}

// filesTar builds a tar of files, relative to "/", owned by root; nil when
// there are none.
//
// It holds no directory entries. The engine creates a missing parent
// directory (mode 0755, root) when it unpacks a file below it, so
// /etc/app/conf lands in an image without /etc/app; a directory entry would
// in addition reset the mode of a parent that exists (/tmp 1777, /root
// 0700) to whatever the tar says, which a file copy must not do.
func filesTar(files []drivers.File, now time.Time) ([]byte, error) {
	if len(files) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		name, err := cleanPath(f.Path)
		if err != nil {
			return nil, err
		}
		mode := f.Mode
		if mode == 0 {
			mode = defaultFileMode
		}
		hdr := &tar.Header{
			Name:     name,
			Typeflag: tar.TypeReg,
			Mode:     mode,
			Size:     int64(len(f.Content)),
			ModTime:  now,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("file %s: %w", f.Path, err)
		}
		if _, err := tw.Write([]byte(f.Content)); err != nil {
			return nil, fmt.Errorf("file %s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// cleanPath turns an absolute container path into a tar name relative to
// "/", refusing anything that is not a plain file path.
func cleanPath(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("file %q: path must be absolute", p)
	}
	name := strings.TrimPrefix(path.Clean(p), "/")
	if name == "" || strings.HasSuffix(p, "/") {
		return "", fmt.Errorf("file %q: path names a directory", p)
	}
	return name, nil
}
