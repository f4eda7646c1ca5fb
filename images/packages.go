package images

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

var discard = slog.New(slog.DiscardHandler)

// Packages returns the Debian packages an image lists at PackagesPath, as
// package name (without ":arch") → version. It reads the file from a
// container that it creates from the image, never starts, and removes.
func Packages(ctx context.Context, cli client.APIClient, ref string) (map[string]string, error) {
	c, err := cli.ContainerCreate(ctx, &container.Config{
		Image:      ref,
		Entrypoint: []string{"/bin/true"},
		Labels:     map[string]string{"io.rensei.image.probe": "packages"},
	}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("image %s: packages: create container: %w", ref, err)
	}
	defer func() {
		rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = cli.ContainerRemove(rmCtx, c.ID, container.RemoveOptions{Force: true})
	}()
	rc, _, err := cli.CopyFromContainer(ctx, c.ID, PackagesPath)
	if err != nil {
		return nil, fmt.Errorf("image %s: packages: %w", ref, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("image %s: packages: %s not in the archive", ref, PackagesPath)
		}
		if err != nil {
			return nil, fmt.Errorf("image %s: packages: %w", ref, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		pkgs, err := ParsePackages(tr)
		if err != nil {
			return nil, fmt.Errorf("image %s: %s: %w", ref, PackagesPath, err)
		}
		return pkgs, nil
	}
}

// ParsePackages reads a package list as dpkg-query -W writes it: one package
// a line, its name (an ":arch" suffix is dropped) and version separated by
// white space.
func ParsePackages(r io.Reader) (map[string]string, error) {
	pkgs := map[string]string{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		f := strings.Fields(sc.Text())
		switch len(f) {
		case 0:
			continue
		case 1:
			// dpkg-query -W lists packages known but not installed without a version.
			continue
		case 2:
		default:
			return nil, fmt.Errorf("line %d: %q: want name and version", n, sc.Text())
		}
		name, _, _ := strings.Cut(f[0], ":")
		pkgs[name] = f[1]
	}
	return pkgs, sc.Err()
}
