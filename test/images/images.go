// Package images builds the local images that Rensei's examples and tests
// run. No image registry is reachable here, so every image is built FROM
// scratch around Debian's statically linked busybox (package busybox-static).
package images

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

// Busybox is the tag of the image every example and test runs.
const Busybox = "rensei/busybox:latest"

// BusyboxPath is where Debian's busybox-static installs the binary.
const BusyboxPath = "/bin/busybox"

// dockerfile adds nothing at build time: the tar context already holds the
// binary and one symlink per applet, so no RUN step (and no container) is needed.
const dockerfile = `FROM scratch
COPY rootfs/ /
CMD ["/bin/sh"]
`

// Ensure builds tag on the engine behind cli unless it is already there.
func Ensure(ctx context.Context, cli client.APIClient, tag string) error {
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("image %s: inspect: %w", tag, err)
	}
	return Build(ctx, cli, tag)
}

// Build builds tag FROM scratch around BusyboxPath, replacing any older build.
func Build(ctx context.Context, cli client.APIClient, tag string) error {
	context, err := buildContext()
	if err != nil {
		return fmt.Errorf("image %s: %w", tag, err)
	}
	resp, err := cli.ImageBuild(ctx, bytes.NewReader(context), build.ImageBuildOptions{
		Tags:        []string{tag},
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{"io.rensei.image": "busybox"},
	})
	if err != nil {
		return fmt.Errorf("image %s: build: %w", tag, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("image %s: build: %w", tag, err)
	}
	if bytes.Contains(out, []byte(`"errorDetail"`)) {
		return fmt.Errorf("image %s: build: %s", tag, strings.TrimSpace(string(out)))
	}
	return nil
}

func buildContext() ([]byte, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("read %s (install Debian's busybox-static): %w", BusyboxPath, err)
	}
	applets, err := exec.Command(BusyboxPath, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list-full: %w", BusyboxPath, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body []byte) error {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	if err := add(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}, []byte(dockerfile)); err != nil {
		return nil, err
	}
	for _, dir := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "tmp", "etc", "root", "home", "var", "var/www", "data"} {
		mode := int64(0o755)
		if dir == "tmp" {
			mode = 0o1777
		}
		if err := add(&tar.Header{Name: "rootfs/" + dir + "/", Typeflag: tar.TypeDir, Mode: mode}, nil); err != nil {
			return nil, err
		}
	}
	if err := add(&tar.Header{Name: "rootfs/bin/busybox", Mode: 0o755, Size: int64(len(bin))}, bin); err != nil {
		return nil, err
	}
	etc := map[string]string{
		"rootfs/etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"rootfs/etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, body := range etc {
		if err := add(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}, []byte(body)); err != nil {
			return nil, err
		}
	}
	for _, applet := range strings.Fields(string(applets)) {
		if applet == "bin/busybox" {
			continue
		}
		if err := add(&tar.Header{Name: "rootfs/" + applet, Typeflag: tar.TypeSymlink, Linkname: "/bin/busybox", Mode: 0o777}, nil); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
