package docker

import (
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/drivers"
)

func TestNewEndpoints(t *testing.T) {
	tests := []struct {
		endpoint string
		ok       bool
	}{
		{"unix:///var/run/docker.sock", true},
		{"tcp://127.0.0.1:2375", true},
		{"ssh://rensei@site-a.example:2222", true},
		{"ssh://site-a.example", true},
		{"ssh://", false},
		{"ssh://host/some/path", false},
		{"http://127.0.0.1:2375", false},
		{"/var/run/docker.sock", false},
	}
	for _, tt := range tests {
		d, err := New(tt.endpoint, nil, testHost, nil)
		if (err == nil) != tt.ok {
			t.Errorf("New(%q): err %v, want ok=%v", tt.endpoint, err, tt.ok)
		}
		if err == nil {
			d.Close()
		} else if !strings.Contains(err.Error(), testHost) {
			t.Errorf("New(%q): error %q does not name the host", tt.endpoint, err)
		}
	}
}

func TestSSHArgs(t *testing.T) {
	tests := []struct {
		endpoint string
		want     []string
	}{
		{"ssh://h1", []string{"-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "--", "h1", "docker", "system", "dial-stdio"}},
		{"ssh://ops@h1:2222", []string{"-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-l", "ops", "-p", "2222", "--", "h1", "docker", "system", "dial-stdio"}},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.endpoint)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sshArgs(u)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("sshArgs(%q) (-want +got):\n%s", tt.endpoint, diff)
		}
	}
}

func TestProbe(t *testing.T) {
	h := newHarness(t)
	if st := h.d.Probe(h.ctx()); !st.Reachable || st.DockerVersion == "" || st.Error != "" {
		t.Errorf("Probe of the local engine: %+v", st)
	}
	if got := h.d.Host(); got.Name != testHost || got.Tunnels != nil || got.Containers == nil || got.Probe == nil {
		t.Errorf("Host(): %+v", got)
	}
}

func TestUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nothing.sock")
	d, err := New("unix://"+sock, nil, testHost, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The probe says why, once; whoever shows it names the host.
	st := d.Probe(ctx)
	if want := "Cannot connect to the Docker daemon at unix://" + sock + ". Is the docker daemon running?"; st.Reachable || st.Error != want {
		t.Errorf("Probe of a bogus socket: %+v, want unreachable with the error %q", st, want)
	}
	errs := map[string]error{}
	_, errs["containers"] = d.Containers().List(ctx)
	_, errs["networks"] = d.Networks().List(ctx)
	_, errs["volumes"] = d.Volumes().List(ctx)
	errs["ensure"] = d.Containers().Ensure(ctx, drivers.ContainerSpec{Name: "x", Image: "busybox"})
	_, errs["events"] = d.Events(ctx)
	for what, err := range errs {
		t.Logf("%s: %v", what, err)
		if !errors.Is(err, drivers.ErrUnreachable) || strings.Count(err.Error(), testHost) != 1 || strings.Count(err.Error(), "unreachable") != 1 {
			t.Errorf("%s: got %v, want ErrUnreachable naming %s once, and unreachable once", what, err, testHost)
		}
	}
}

// fakeSSH puts an ssh command on PATH that runs script instead of
// connecting anywhere.
func fakeSSH(t *testing.T, script string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ssh"), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// TestSSHEndpoint drives the ssh transport end to end with an ssh command
// that runs `docker system dial-stdio` against the local engine.
func TestSSHEndpoint(t *testing.T) {
	h := newHarness(t) // skips without an engine
	if _, err := exec.LookPath("docker"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no docker command for dial-stdio (CI=true: a missing prerequisite is a failure)")
		}
		t.Skip("no docker command for dial-stdio")
	}
	fakeSSH(t, `[ "$*" = "-o BatchMode=yes -o ConnectTimeout=10 -l ops -- site-a docker system dial-stdio" ] || { echo "bad args: $*" >&2; exit 2; }
DOCKER_HOST=`+testEndpoint()+` exec docker system dial-stdio`)
	d, err := New("ssh://ops@site-a", nil, testHost, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if st := d.Probe(h.ctx()); !st.Reachable || st.DockerVersion == "" {
		t.Fatalf("Probe over ssh: %+v", st)
	}
	spec := h.spec(h.name("viassh"))
	if err := d.Containers().Ensure(h.ctx(), spec); err != nil {
		t.Fatal(err)
	}
	if !h.inspect(spec.Name).State.Running {
		t.Error("container made over ssh is not running")
	}
}

func TestSSHUnreachable(t *testing.T) {
	fakeSSH(t, `echo "ssh: connect to host site-a port 22: Connection refused" >&2; exit 255`)
	d, err := New("ssh://site-a", nil, testHost, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := d.Probe(ctx)
	if want := "ssh: connect to host site-a port 22: Connection refused"; st.Reachable || st.Error != want {
		t.Errorf("Probe: %+v, want unreachable with ssh's reason %q", st, want)
	}
	// No placeholder URL: the client's address over ssh is no address.
	_, err = d.Containers().List(ctx)
	if !errors.Is(err, drivers.ErrUnreachable) || strings.Contains(err.Error(), "docker.example") || strings.Count(err.Error(), "unreachable") != 1 {
		t.Errorf("List: got %v, want ErrUnreachable with ssh's reason, unreachable said once", err)
	}
	t.Log(err)
}
