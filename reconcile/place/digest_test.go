package place

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// digestTopology exercises every part of a container spec that goes into
// its digests: files and commands that JSON escapes (HTML characters, control
// characters, U+2028, invalid UTF-8), ports, stop, static and fixed
// addresses, aliases, both volume scopes, environment values that need
// escaping, host ports over both protocols, a publish address.
func digestTopology() *schema.Topology {
	ss := sites(1)
	ss[1].Hosts[0].Publish = "192.0.2.7"
	return &schema.Topology{Sites: ss, Environments: []schema.Environment{
		course([]string{"ann", "bob", "cy", "dee"}),
		{
			Name:     "web",
			Networks: []schema.Network{{Name: "front", Subnet: "10.20.0.0/16"}, {Name: "back", Subnet: "10.21.0.0/16"}},
			Groups: []schema.Group{
				{
					Name: "app", Image: "rensei/busybox:1", Replicas: 3,
					Command:   []string{"sh", "-c", `echo "<a href='x'>&amp;</a>" > /tmp/x; sleep 1e9`},
					Env:       map[string]string{"MODE": "prod\ttabbed\nline", "Z": "é ü \u2028 \u2029 \x7f"},
					Resources: schema.Resources{CPUs: 0.25, Memory: schema.MustBytes("128Mi")},
					Restart:   "on-failure",
					Stop:      &schema.Stop{Signal: "SIGINT", Timeout: 7},
					Networks:  []schema.Attachment{{Network: "front", Aliases: []string{"www", "app.local"}}, {Network: "back", Static: true}},
					Volumes:   []schema.Volume{{Name: "data", Path: "/data"}, {Name: "shared", Path: "/shared", Scope: "environment", ReadOnly: true}},
					Files: []schema.File{
						{Path: "/etc/app.conf", Content: "a = \"b\"\\c\n\r\x01\x08\x0c\x1f <>& \u2028\xff\xfe end", Mode: 0o600},
						{Path: "/etc/empty", Content: ""},
					},
				},
				{
					Name: "db", Image: "postgres:16", Replicas: 1,
					Networks: []schema.Attachment{{Network: "back", Address: "10.21.0.9"}},
					Ports:    []schema.Port{{Container: 5432, Host: 15432}, {Container: 53, Host: 5353, Protocol: "udp"}},
					Stop:     &schema.Stop{Timeout: 30},
				},
			},
		},
	}}
}

// TestDigestsPinned pins the placed desired state of digestTopology,
// labels and all. The spec hash and the field digests are stored on live
// containers: a change to either makes every container look changed and
// be recreated on upgrade. Regenerate the golden file only on purpose.
func TestDigestsPinned(t *testing.T) {
	d := mustPlace(t, digestTopology())
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "digests.golden")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestSpecDigestKnown pins specDigest and fieldDigests of one spec by value.
func TestSpecDigestKnown(t *testing.T) {
	c := drivers.ContainerSpec{
		Name: "cs101_student_ann", Hostname: "student-ann", Image: "rensei/busybox:latest",
		Command: []string{"sleep", "infinity"}, Env: []string{"A=<b>&c", "RENSEI_INSTANCE=ann"},
		Restart: "unless-stopped", NanoCPUs: 5e8, Memory: 256 << 20,
		Networks:   []drivers.NetworkAttach{{Network: "cs101_lab", IPv4: "198.19.0.3", Aliases: []string{"student", "student-ann"}}},
		Mounts:     []drivers.Mount{{Volume: "cs101_student_ann_home", Target: "/home", ReadOnly: true}},
		Files:      []drivers.File{{Path: "/etc/motd", Content: "hello\n\u2028\xff", Mode: 0o644}},
		Ports:      []drivers.PortBinding{{Container: 80, Host: 8080, Protocol: "tcp", HostIP: "127.0.0.1"}},
		Security:   drivers.Security{PidsLimit: 512, NoNewPrivileges: true, LogMaxSize: "10m", LogMaxFiles: 3},
		StopSignal: "SIGTERM", StopTimeout: 10,
	}
	if got, want := specDigest(c), "1bd5ec4d7ea724f8"; got != want {
		t.Errorf("specDigest = %s, want %s", got, want)
	}
	if got, want := fieldDigests(c), "image=rensei/busybox:latest;command=b6d1f2b7;env=fddf5b48;resources=2a3999de;restart=f5387113;networks=7139977a;volumes=dac85d78;files=51c27fa9;ports=a05fd458;hostname=b615e1e7;security=d30cf6bf;stop=99502ae1"; got != want {
		t.Errorf("fieldDigests = %s, want %s", got, want)
	}
	if got, want := specDigest(drivers.ContainerSpec{}), "97503a1c0c8c1777"; got != want {
		t.Errorf("specDigest(zero) = %s, want %s", got, want)
	}
}
