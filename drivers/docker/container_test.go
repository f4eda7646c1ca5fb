package docker

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rensei-dev/rensei/drivers"
)

func TestContainerEnsureLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	cs := h.d.Containers()
	spec := h.spec(h.name("web"))

	if err := cs.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	first := h.inspect(spec.Name)
	if !first.State.Running {
		t.Fatalf("after create: not running: %s", first.State.Status)
	}

	// Same spec: nothing happens.
	if err := cs.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if got := h.inspect(spec.Name); got.ID != first.ID {
		t.Errorf("second Ensure replaced the container: %s → %s", shortID(first.ID), shortID(got.ID))
	}

	// Stopped (killed: sleep as PID 1 ignores SIGTERM): started again, same container.
	if err := h.cli.ContainerKill(ctx, first.ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	waitc, errc := h.cli.ContainerWait(ctx, first.ID, container.WaitConditionNotRunning)
	select {
	case <-waitc:
	case err := <-errc:
		t.Fatal(err)
	}
	if err := cs.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if got := h.inspect(spec.Name); got.ID != first.ID || !got.State.Running {
		t.Errorf("stopped container: got %s running=%v, want %s running", shortID(got.ID), got.State.Running, shortID(first.ID))
	}

	// Paused: unpaused, same container.
	if err := h.cli.ContainerPause(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if err := cs.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if got := h.inspect(spec.Name); got.ID != first.ID || got.State.Paused || !got.State.Running {
		t.Errorf("paused container: got %s paused=%v, want %s running", shortID(got.ID), got.State.Paused, shortID(first.ID))
	}

	// Another spec hash: replaced by a new container carrying the new hash.
	spec.Labels = labels("h2")
	spec.Command = []string{"sleep", "3601"}
	if err := cs.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	got := h.inspect(spec.Name)
	if got.ID == first.ID {
		t.Fatal("spec hash changed but the container was kept")
	}
	if diff := cmp.Diff([]string{"sleep", "3601"}, []string(got.Config.Cmd)); diff != "" || !got.State.Running ||
		got.Config.Labels[drivers.LabelSpecHash] != "h2" {
		t.Errorf("replacement: running=%v hash=%q cmd diff (-want +got):\n%s",
			got.State.Running, got.Config.Labels[drivers.LabelSpecHash], diff)
	}
}

func TestContainerNotOwned(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	name := h.name("foreign")
	id := h.foreignContainer(name, true)

	err := h.d.Containers().Ensure(ctx, h.spec(name))
	if !errors.Is(err, drivers.ErrNotOwned) {
		t.Errorf("Ensure over a foreign container: got %v, want ErrNotOwned", err)
	}
	t.Log(err)
	if err := h.d.Containers().Delete(ctx, name); !errors.Is(err, drivers.ErrNotOwned) {
		t.Errorf("Delete of a foreign container: got %v, want ErrNotOwned", err)
	}
	got := h.inspect(name)
	if got.ID != id || !got.State.Running || owned(got.Config.Labels) {
		t.Errorf("foreign container was touched: id %s→%s running=%v labels=%v",
			shortID(id), shortID(got.ID), got.State.Running, got.Config.Labels)
	}
}

func TestContainerDeleteKeepsVolumes(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	vol := h.name("data")
	if err := h.d.Volumes().Ensure(ctx, drivers.VolumeSpec{Name: vol, Labels: labels("v1")}); err != nil {
		t.Fatal(err)
	}
	spec := h.spec(h.name("db"))
	spec.Mounts = []drivers.Mount{{Volume: vol, Target: "/data"}}
	if err := h.d.Containers().Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second Delete finds nothing, which is fine
		if err := h.d.Containers().Delete(ctx, spec.Name); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if _, err := h.cli.ContainerInspect(ctx, spec.Name); !isNotFound(err) {
		t.Errorf("container still there after Delete: %v", err)
	}
	if _, err := h.cli.VolumeInspect(ctx, vol); err != nil {
		t.Errorf("volume gone with its container: %v", err)
	}
}

func TestContainerFiles(t *testing.T) {
	h := newHarness(t)
	spec := h.spec(h.name("files"), "sh", "-c",
		"cat /etc/rensei/app/hello.txt /tmp/plain.txt; stat -c '%a %n' /etc/rensei/app/hello.txt /tmp/plain.txt /etc/rensei/app /tmp")
	spec.Files = []drivers.File{
		{Path: "/etc/rensei/app/hello.txt", Content: "hello from rensei\n", Mode: 0o600},
		{Path: "/tmp/plain.txt", Content: "plain\n"},
	}
	if err := h.d.Containers().Ensure(h.ctx(), spec); err != nil {
		t.Fatal(err)
	}
	want := "hello from rensei\nplain\n" +
		"600 /etc/rensei/app/hello.txt\n644 /tmp/plain.txt\n755 /etc/rensei/app\n1777 /tmp\n"
	if diff := cmp.Diff(want, h.output(spec.Name)); diff != "" {
		t.Errorf("container output (-want +got):\n%s", diff)
	}
}

func TestContainerBadFilePathCreatesNothing(t *testing.T) {
	h := newHarness(t)
	spec := h.spec(h.name("badfile"))
	spec.Files = []drivers.File{{Path: "relative/path", Content: "x"}}
	if err := h.d.Containers().Ensure(h.ctx(), spec); err == nil {
		t.Fatal("Ensure with a relative file path succeeded")
	}
	if _, err := h.cli.ContainerInspect(h.ctx(), spec.Name); !isNotFound(err) {
		t.Errorf("container exists after a failed Ensure: %v", err)
	}
}

// freePort returns a TCP port on loopback that is free right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// applied is what a test checks of an inspected container's configuration.
type applied struct {
	Hostname string
	Env      []string
	Restart  string
	NanoCPUs int64
	Memory   int64
	Ports    map[string][]string // container port → host ports
}

func TestContainerConfig(t *testing.T) {
	h := newHarness(t)
	hostPort := freePort(t)
	tests := []struct {
		name string
		edit func(*drivers.ContainerSpec)
		want applied
	}{
		{
			name: "defaults",
			edit: func(s *drivers.ContainerSpec) { s.Restart = "" },
			want: applied{Restart: "no"},
		},
		{
			name: "resources",
			edit: func(s *drivers.ContainerSpec) {
				s.Env = []string{"A=1", "B=two words"}
				s.NanoCPUs = 500_000_000
				s.Memory = 64 << 20
				s.Restart = "unless-stopped"
				s.Ports = []drivers.PortBinding{
					{Container: 8080, Host: hostPort, Protocol: "tcp"},
					{Container: 5353, Protocol: "udp"},
				}
			},
			want: applied{
				Env:      []string{"A=1", "B=two words"},
				Restart:  "unless-stopped",
				NanoCPUs: 500_000_000,
				Memory:   64 << 20,
				Ports:    map[string][]string{"8080/tcp": {strconv.Itoa(hostPort)}, "5353/udp": {""}},
			},
		},
		{name: "always", edit: func(s *drivers.ContainerSpec) { s.Restart = "always" }, want: applied{Restart: "always"}},
		{name: "on-failure", edit: func(s *drivers.ContainerSpec) { s.Restart = "on-failure" }, want: applied{Restart: "on-failure"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := h.spec(h.name("cfg-" + tt.name))
			tt.edit(&spec)
			if err := h.d.Containers().Ensure(h.ctx(), spec); err != nil {
				t.Fatal(err)
			}
			c := h.inspect(spec.Name)
			got := applied{
				Hostname: c.Config.Hostname,
				// The engine adds a default PATH to an image without one.
				Env: slices.DeleteFunc(slices.Clone(c.Config.Env), func(e string) bool {
					return strings.HasPrefix(e, "PATH=")
				}),
				Restart:  string(c.HostConfig.RestartPolicy.Name),
				NanoCPUs: c.HostConfig.NanoCPUs,
				Memory:   c.HostConfig.Memory,
			}
			for port, binds := range c.HostConfig.PortBindings {
				if got.Ports == nil {
					got.Ports = map[string][]string{}
				}
				for _, b := range binds {
					got.Ports[string(port)] = append(got.Ports[string(port)], b.HostPort)
				}
			}
			tt.want.Hostname = spec.Name
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("applied config (-want +got):\n%s", diff)
			}
			if !c.State.Running {
				t.Errorf("not running: %s", c.State.Status)
			}
		})
	}
}

func TestContainerImageMissing(t *testing.T) {
	h := newHarness(t)
	spec := h.spec(h.name("noimage"))
	spec.Image = "rensei-test/missing-" + randHex(4) + ":v1"
	start := time.Now()
	err := h.d.Containers().Ensure(h.ctx(), spec)
	elapsed := time.Since(start)
	if !errors.Is(err, drivers.ErrImageMissing) {
		t.Fatalf("got %v, want ErrImageMissing", err)
	}
	t.Log(err)
	for _, s := range []string{spec.Image, testHost, spec.Name} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
	if limit := pullTimeout + 10*time.Second; elapsed > limit {
		t.Errorf("Ensure took %s, want at most %s", elapsed, limit)
	}
	if _, err := h.cli.ContainerInspect(h.ctx(), spec.Name); !isNotFound(err) {
		t.Errorf("container exists after a failed Ensure: %v", err)
	}
}

func TestContainerListOnlyOwned(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	netName := h.name("net")
	ns := h.netSpec(netName)
	if err := h.d.Networks().Ensure(ctx, ns); err != nil {
		t.Fatal(err)
	}
	mine := h.spec(h.name("mine"))
	mine.Networks = []drivers.NetworkAttach{{Network: netName}}
	if err := h.d.Containers().Ensure(ctx, mine); err != nil {
		t.Fatal(err)
	}
	h.foreignContainer(h.name("theirs"), false)

	list, err := h.d.Containers().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range list {
		names = append(names, c.Name)
		if c.Name != mine.Name {
			continue
		}
		if !c.Running || c.Image != mine.Image || c.SpecHash() != "h1" {
			t.Errorf("listed %+v, want running %s with hash h1", c, mine.Image)
		}
		if ip, err := netip.ParseAddr(c.Networks[netName]); err != nil || !netip.MustParsePrefix(ns.Subnet).Contains(ip) {
			t.Errorf("networks %v: want an address in %s on %s", c.Networks, ns.Subnet, netName)
		}
	}
	if diff := cmp.Diff([]string{mine.Name}, h.withPrefix(names)); diff != "" {
		t.Errorf("listed containers (-want +got):\n%s", diff)
	}
	if slices.Contains(names, h.name("theirs")) {
		t.Error("a foreign container was listed")
	}
}

// TestContainerLookup: owned containers by ID or exact name (a name is not
// a pattern: "x" does not find "x1"), absent and foreign ones left out.
func TestContainerLookup(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	var ids []string
	for _, n := range []string{"x", "x1", "y.z"} {
		if err := h.d.Containers().Ensure(ctx, h.spec(h.name(n))); err != nil {
			t.Fatal(err)
		}
	}
	list, err := h.d.Containers().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]drivers.Container{}
	for _, c := range list {
		byName[c.Name] = c
	}
	ids = append(ids, byName[h.name("x1")].ID)
	theirs := h.foreignContainer(h.name("theirs"), false)
	got, err := h.d.Containers().Lookup(ctx, append(ids, theirs, "0123456789ab"), []string{h.name("x"), h.name("y.z"), h.name("gone"), h.name("theirs")})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range got {
		names = append(names, c.Name)
		if diff := cmp.Diff(byName[c.Name], c); diff != "" {
			t.Errorf("looked up %s differs from its list entry (-list +lookup):\n%s", c.Name, diff)
		}
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{h.name("x"), h.name("x1"), h.name("y.z")}, names); diff != "" {
		t.Errorf("looked up (-want +got):\n%s", diff)
	}
}

func TestContainerFailedStartLeavesNothing(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	lan := h.netSpec(h.name("lan"))
	if err := h.d.Networks().Ensure(ctx, lan); err != nil {
		t.Fatal(err)
	}
	// The create call succeeds; connecting the second network fails.
	spec := h.spec(h.name("half"))
	spec.Networks = []drivers.NetworkAttach{{Network: lan.Name}, {Network: h.name("absent")}}
	err := h.d.Containers().Ensure(ctx, spec)
	if err == nil || !strings.Contains(err.Error(), h.name("absent")) {
		t.Fatalf("got %v, want an error naming the absent network", err)
	}
	if _, err := h.cli.ContainerInspect(ctx, spec.Name); !isNotFound(err) {
		t.Errorf("half-made container left behind: %v", err)
	}
}

func TestCleanPath(t *testing.T) {
	tests := []struct {
		path, want string
		ok         bool
	}{
		{"/etc/app/conf", "etc/app/conf", true},
		{"/etc/../etc/x", "etc/x", true},
		{"relative/x", "", false},
		{"/", "", false},
		{"/etc/app/", "", false},
	}
	for _, tt := range tests {
		got, err := cleanPath(tt.path)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("cleanPath(%q) = %q, %v; want %q, ok=%v", tt.path, got, err, tt.want, tt.ok)
		}
	}
}

// TestOtherScopeNotOwned: an object of another deployment (io.rensei.scope)
// sharing the engine is not this one's: Ensure refuses and leaves it as it is.
func TestOtherScopeNotOwned(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	theirs := h.spec(h.name("scoped"))
	theirs.Labels[drivers.LabelScope] = "dept-a"
	if err := h.d.Containers().Ensure(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	before := h.inspect(theirs.Name).ID
	mine := h.spec(theirs.Name)
	mine.Labels[drivers.LabelScope] = "dept-b"
	mine.Labels[drivers.LabelSpecHash] = "other"
	if err := h.d.Containers().Ensure(ctx, mine); !errors.Is(err, drivers.ErrNotOwned) {
		t.Fatalf("Ensure over another scope's container: %v, want ErrNotOwned", err)
	}
	if after := h.inspect(theirs.Name); after.ID != before || after.Config.Labels[drivers.LabelScope] != "dept-a" {
		t.Fatalf("the other scope's container was changed: %s → %s", before, after.ID)
	}
	vol := drivers.VolumeSpec{Name: h.name("scoped-vol"), Labels: map[string]string{drivers.LabelScope: "dept-a"}}
	if err := h.d.Volumes().Ensure(ctx, vol); err != nil {
		t.Fatal(err)
	}
	vol.Labels = map[string]string{drivers.LabelScope: "dept-b"}
	if err := h.d.Volumes().Ensure(ctx, vol); !errors.Is(err, drivers.ErrNotOwned) {
		t.Fatalf("Ensure over another scope's volume: %v, want ErrNotOwned", err)
	}
}
