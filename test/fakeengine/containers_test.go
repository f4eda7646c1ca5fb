package fakeengine_test

import (
	"archive/tar"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/test/fakeengine"
)

func TestContainerLifecycle(t *testing.T) {
	e := newEngine(t, fakeengine.Options{})
	d := newDriver(t, e)
	ctx := testCtx(t)
	for _, n := range []drivers.NetworkSpec{
		netSpec("lan", "10.10.0.0/16", "10.10.1.0/24", "10.10.1.1"),
		netSpec("mgmt", "10.20.0.0/24", "", ""),
	} {
		if err := d.Networks().Ensure(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	s := spec("web")
	s.Networks = []drivers.NetworkAttach{
		{Network: "lan", IPv4: "10.10.1.50", Aliases: []string{"www"}},
		{Network: "mgmt"},
	}
	s.Ports = []drivers.PortBinding{{Container: 80, Host: 8080, Protocol: "tcp"}, {Container: 53, Protocol: "udp"}}
	s.Mounts = []drivers.Mount{{Volume: "web-data", Target: "/data"}}
	s.Files = []drivers.File{{Path: "/etc/app/conf", Content: "x=1\n", Mode: 0o600}, {Path: "/tmp/hello", Content: "hi"}}
	// The driver mounts only volumes that exist and are the deployment's.
	if err := d.Volumes().Ensure(ctx, drivers.VolumeSpec{Name: "web-data", Labels: s.Labels}); err != nil {
		t.Fatal(err)
	}
	if err := d.Containers().Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}

	got := listed(t, d, "web")
	if !got.Running || got.Image != busybox || got.SpecHash() != "h1" {
		t.Errorf("listed %+v, want running busybox with hash h1", got)
	}
	if got.Networks["lan"] != "10.10.1.50" || got.Networks["mgmt"] != "10.20.0.2" {
		t.Errorf("networks %v, want lan 10.10.1.50 (static) and mgmt 10.20.0.2 (first free)", got.Networks)
	}
	if !slices.Equal(got.HostPorts, []string{"tcp/8080", "udp/32768"}) {
		t.Errorf("host ports %v, want tcp/8080 and the first ephemeral udp port", got.HostPorts)
	}
	if content, mode, ok := e.File("web", "/etc/app/conf"); !ok || content != "x=1\n" || mode != 0o600 {
		t.Errorf("file /etc/app/conf = %q %o %v", content, mode, ok)
	}
	if _, mode, _ := e.File("web", "/tmp/hello"); mode != 0o644 {
		t.Errorf("default file mode %o, want 644", mode)
	}
	if vols := e.Volumes(); len(vols) != 1 || vols[0].Name != "web-data" || !slices.Equal(vols[0].UsedBy, []string{"web"}) {
		t.Errorf("volumes %+v, want web-data used by web (created by the mount)", vols)
	}

	// Idempotent: a second Ensure only inspects.
	creates := e.Calls("ContainerCreate")
	if err := d.Containers().Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	if n := e.Calls("ContainerCreate"); n != creates {
		t.Errorf("second Ensure created again (%d creates)", n-creates)
	}

	// A stopped container with the same hash is started, not recreated.
	cli := newClient(t, e)
	if err := cli.ContainerStop(ctx, "web", container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.Container("web"); c.Running || c.Networks["lan"] != "" {
		t.Errorf("stopped container %+v still running or holding its address", c)
	}
	if err := d.Containers().Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.Container("web"); !c.Running || c.ID != got.ID || c.Networks["lan"] != "10.10.1.50" {
		t.Errorf("after Ensure of a stopped container: %+v", c)
	}

	// Another hash replaces it.
	s.Labels = labels("h2")
	if err := d.Containers().Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	if c := listed(t, d, "web"); c.ID == got.ID || c.SpecHash() != "h2" || c.Networks["lan"] != "10.10.1.50" {
		t.Errorf("replacement %+v, want a new ID with hash h2 at the same address", c)
	}

	if err := d.Containers().Delete(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if err := d.Containers().Delete(ctx, "web"); err != nil {
		t.Errorf("deleting a gone container: %v", err)
	}
	if len(e.Containers()) != 0 || len(e.Volumes()) != 1 {
		t.Errorf("after delete: %d containers, %d volumes; want 0 and the kept volume", len(e.Containers()), len(e.Volumes()))
	}
}

func TestContainerConflicts(t *testing.T) {
	e := newEngine(t, fakeengine.Options{})
	d := newDriver(t, e)
	ctx := testCtx(t)
	if err := d.Networks().Ensure(ctx, netSpec("lan", "10.30.0.0/24", "", "")); err != nil {
		t.Fatal(err)
	}
	a := spec("ca")
	a.Networks = []drivers.NetworkAttach{{Network: "lan", IPv4: "10.30.0.10"}}
	a.Ports = []drivers.PortBinding{{Container: 80, Host: 8080}}
	if err := d.Containers().Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}

	b := spec("cb")
	b.Networks = []drivers.NetworkAttach{{Network: "lan", IPv4: "10.30.0.10"}}
	err := d.Containers().Ensure(ctx, b)
	if err == nil || !strings.Contains(err.Error(), "failed to set up container networking: Address already in use") {
		t.Errorf("address in use: %v", err)
	}
	if _, ok := e.Container("cb"); ok {
		t.Error("the half-made container cb was left behind")
	}

	b.Networks[0].IPv4 = "10.30.0.11"
	b.Ports = []drivers.PortBinding{{Container: 8000, Host: 8080}}
	err = d.Containers().Ensure(ctx, b)
	if err == nil || !strings.Contains(err.Error(), "Bind for 0.0.0.0:8080 failed: port is already allocated") {
		t.Errorf("port in use: %v", err)
	}

	b.Networks[0].IPv4 = "10.99.0.1"
	b.Ports = nil
	err = d.Containers().Ensure(ctx, b)
	if err == nil || !strings.Contains(err.Error(), "no configured subnet or ip-range contain the IP address 10.99.0.1") {
		t.Errorf("address outside the subnet: %v", err)
	}

	b.Networks = []drivers.NetworkAttach{{Network: "nonesuch"}}
	err = d.Containers().Ensure(ctx, b)
	if !errors.Is(err, drivers.ErrNotFound) || !strings.Contains(err.Error(), "network nonesuch: not found") {
		t.Errorf("unknown network: %v", err)
	}

	// A container of that name that Rensei does not own is left alone.
	cli := newClient(t, e)
	if _, err := cli.ContainerCreate(ctx, &container.Config{Image: busybox}, nil, nil, nil, "foreign"); err != nil {
		t.Fatal(err)
	}
	if err := d.Containers().Ensure(ctx, spec("foreign")); !errors.Is(err, drivers.ErrNotOwned) {
		t.Errorf("Ensure over a foreign container: %v", err)
	}
	if err := d.Containers().Delete(ctx, "foreign"); !errors.Is(err, drivers.ErrNotOwned) {
		t.Errorf("Delete of a foreign container: %v", err)
	}
	_, err = cli.ContainerCreate(ctx, &container.Config{Image: busybox}, nil, nil, nil, "foreign")
	if err == nil || !strings.Contains(err.Error(), `The container name "/foreign" is already in use`) {
		t.Errorf("name conflict: %v", err)
	}
	if err := cli.ContainerStart(ctx, "foreign", container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	err = cli.ContainerRemove(ctx, "foreign", container.RemoveOptions{})
	if err == nil || !strings.Contains(err.Error(), "container is running: stop the container before removing or force remove") {
		t.Errorf("remove running without force: %v", err)
	}
}

func TestContainerListFilters(t *testing.T) {
	e := newEngine(t, fakeengine.Options{})
	cli := newClient(t, e)
	ctx := testCtx(t)
	for _, c := range []struct {
		name   string
		labels map[string]string
		start  bool
	}{
		{"owned-1", map[string]string{drivers.LabelManaged: "true", "tier": "web"}, true},
		{"owned-2", map[string]string{drivers.LabelManaged: "true", "tier": "db"}, false},
		{"other", map[string]string{drivers.LabelManaged: "false"}, true},
	} {
		if _, err := cli.ContainerCreate(ctx, &container.Config{Image: busybox, Labels: c.labels}, nil, nil, nil, c.name); err != nil {
			t.Fatal(err)
		}
		if c.start {
			if err := cli.ContainerStart(ctx, c.name, container.StartOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	names := func(opts container.ListOptions) []string {
		t.Helper()
		list, err := cli.ContainerList(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range list {
			out = append(out, strings.TrimPrefix(c.Names[0], "/"))
		}
		slices.Sort(out)
		return out
	}
	for _, tt := range []struct {
		opts container.ListOptions
		want []string
	}{
		{container.ListOptions{}, []string{"other", "owned-1"}},
		{container.ListOptions{All: true}, []string{"other", "owned-1", "owned-2"}},
		{container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", drivers.LabelManaged+"=true"))}, []string{"owned-1", "owned-2"}},
		{container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "tier"))}, []string{"owned-1", "owned-2"}},
		{container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "tier=db"))}, []string{"owned-2"}},
		{container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("name", "owned"))}, []string{"owned-1", "owned-2"}},
		{container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("name", "^/?other$"))}, []string{"other"}},
		{container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("status", "created"))}, []string{"owned-2"}},
	} {
		if got := names(tt.opts); !slices.Equal(got, tt.want) {
			t.Errorf("list %v all=%v: %v, want %v", tt.opts.Filters, tt.opts.All, got, tt.want)
		}
	}
	_, err := cli.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("colour", "red"))})
	if err == nil || !strings.Contains(err.Error(), "invalid filter 'colour'") {
		t.Errorf("unknown filter: %v", err)
	}
}

func TestExitAndRestartPolicy(t *testing.T) {
	e := newEngine(t, fakeengine.Options{})
	d := newDriver(t, e)
	ctx := testCtx(t)
	once, always := spec("once"), spec("always")
	always.Restart = "always"
	for _, s := range []drivers.ContainerSpec{once, always} {
		if err := d.Containers().Ensure(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := e.Exit(s.Name, 1); err != nil {
			t.Fatal(err)
		}
	}
	if c, _ := e.Container("once"); c.Running || c.State != "exited" || c.ExitCode != 1 {
		t.Errorf("restart no: %+v, want exited with code 1", c)
	}
	if c, _ := e.Container("always"); !c.Running || c.RestartCount != 1 {
		t.Errorf("restart always: %+v, want running again, restarted once", c)
	}
	if err := d.Containers().Ensure(ctx, once); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.Container("once"); !c.Running {
		t.Errorf("Ensure did not start the exited container: %+v", c)
	}
}

func TestContainerArchive(t *testing.T) {
	e := newEngine(t, fakeengine.Options{})
	d := newDriver(t, e)
	ctx := testCtx(t)
	s := spec("web")
	s.Files = []drivers.File{{Path: "/etc/app/a.conf", Content: "a", Mode: 0o640}, {Path: "/etc/app/b.conf", Content: "bb"}}
	if err := d.Containers().Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	cli := newClient(t, e)
	st, err := cli.ContainerStatPath(ctx, "web", "/etc/app/b.conf")
	if err != nil || st.Size != 2 || st.Mode.Perm() != 0o644 || st.Name != "b.conf" {
		t.Errorf("stat: %+v %v", st, err)
	}
	rc, st, err := cli.CopyFromContainer(ctx, "web", "/etc/app")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if !st.Mode.IsDir() {
		t.Errorf("/etc/app stat %+v, want a directory", st)
	}
	var names []string
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, hdr.Name)
	}
	if want := []string{"app/", "app/a.conf", "app/b.conf"}; !slices.Equal(names, want) {
		t.Errorf("archive holds %v, want %v", names, want)
	}
	if _, _, err := cli.CopyFromContainer(ctx, "web", "/nonesuch"); err == nil || !strings.Contains(err.Error(), "Could not find the file /nonesuch in container web") {
		t.Errorf("missing path: %v", err)
	}
}
