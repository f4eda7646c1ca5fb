package images

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
)

// sandbox is one test's Docker objects; all carry the label testLabel=id and
// are removed when the test ends.
type sandbox struct {
	t   *testing.T
	cli *client.Client
	id  string // prefix of every name
	net string
}

const testLabel = "io.rensei.test.images"

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	cli := dockerClient(t)
	buildCourse(t, cli)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	s := &sandbox{t: t, cli: cli, id: "rensei-imgtest-" + hex.EncodeToString(b)}
	t.Cleanup(s.cleanup)
	ctx := context.Background()
	// No subnet: the engine picks a free one, so parallel tests elsewhere
	// with fixed subnets do not collide with this one.
	if _, err := cli.NetworkCreate(ctx, s.id, network.CreateOptions{Labels: s.labels()}); err != nil {
		t.Fatal(err)
	}
	s.net = s.id
	return s
}

func (s *sandbox) labels() map[string]string { return map[string]string{testLabel: s.id} }

func (s *sandbox) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", testLabel+"="+s.id))
	cs, err := s.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		s.t.Errorf("cleanup: %v", err)
	}
	for _, c := range cs {
		if err := s.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
			s.t.Errorf("cleanup: %v", err)
		}
	}
	if s.net != "" {
		if err := s.cli.NetworkRemove(ctx, s.net); err != nil {
			s.t.Errorf("cleanup: %v", err)
		}
	}
	vs, err := s.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		s.t.Errorf("cleanup: %v", err)
	}
	for _, v := range vs.Volumes {
		if err := s.cli.VolumeRemove(ctx, v.Name, true); err != nil {
			s.t.Errorf("cleanup: %v", err)
		}
	}
}

// box is a container to run: what Rensei would give it.
type box struct {
	name    string // suffix; the container is <sandbox id>-<name>, its DNS name <name>
	image   string
	env     []string
	files   map[string]string // placed before start: absolute path → content
	aliases []string          // more DNS names on the sandbox's network
	volume  string            // "<volume suffix>:<path>", created with the sandbox's label
	publish []string          // container ports ("80/tcp") published on 127.0.0.1, random port
}

// run creates, fills and starts a container, and returns its ID.
func (s *sandbox) run(b box) string {
	s.t.Helper()
	ctx := context.Background()
	hc := &container.HostConfig{PortBindings: nat.PortMap{}}
	exposed := nat.PortSet{}
	for _, p := range b.publish {
		exposed[nat.Port(p)] = struct{}{}
		hc.PortBindings[nat.Port(p)] = []nat.PortBinding{{HostIP: "127.0.0.1"}}
	}
	if b.volume != "" {
		name, path, _ := strings.Cut(b.volume, ":")
		name = s.id + "-" + name
		if _, err := s.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: s.labels()}); err != nil {
			s.t.Fatal(err)
		}
		hc.Binds = []string{name + ":" + path}
	}
	c, err := s.cli.ContainerCreate(ctx, &container.Config{
		Image: b.image, Hostname: b.name, Env: b.env, Labels: s.labels(), ExposedPorts: exposed,
	}, hc, &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		s.net: {Aliases: append([]string{b.name}, b.aliases...)},
	}}, nil, s.id+"-"+b.name)
	if err != nil {
		s.t.Fatal(err)
	}
	if len(b.files) > 0 {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for p, body := range b.files {
			_ = tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: 0o644, Size: int64(len(body)), ModTime: time.Now()})
			_, _ = tw.Write([]byte(body))
		}
		_ = tw.Close()
		if err := s.cli.CopyToContainer(ctx, c.ID, "/", &buf, container.CopyToContainerOptions{}); err != nil {
			s.t.Fatal(err)
		}
	}
	if err := s.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		s.t.Fatal(err)
	}
	return c.ID
}

// hostURL returns http://127.0.0.1:<published port> of a container port.
func (s *sandbox) hostURL(id, port string) string {
	s.t.Helper()
	ins, err := s.cli.ContainerInspect(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	bs := ins.NetworkSettings.Ports[nat.Port(port)]
	if len(bs) == 0 {
		s.t.Fatalf("%s: port %s not published", ins.Name, port)
	}
	return "http://127.0.0.1:" + bs[0].HostPort
}

func (s *sandbox) remove(id string) {
	s.t.Helper()
	if err := s.cli.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true}); err != nil {
		s.t.Fatal(err)
	}
}

// logs returns a container's output, for failure messages.
func (s *sandbox) logs(id string) string {
	rc, err := s.cli.ContainerLogs(context.Background(), id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return err.Error()
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}
