package place

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/test/golden"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/schema"
)

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
	golden.Check(t, "digests.golden", buf.Bytes())
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
	var d digester
	for _, got := range []string{specDigest(c), d.spec(&c)} {
		if want := "1bd5ec4d7ea724f8"; got != want {
			t.Errorf("spec digest = %s, want %s", got, want)
		}
	}
	if got, want := jsonFieldDigests(c), "image=rensei/busybox:latest;command=b6d1f2b7;env=fddf5b48;resources=2a3999de;restart=f5387113;networks=7139977a;volumes=dac85d78;files=51c27fa9;ports=a05fd458;hostname=b615e1e7;security=d30cf6bf;stop=99502ae1"; got != want {
		t.Errorf("jsonFieldDigests = %s, want %s", got, want)
	}
	if got, want := fieldDigests(c), "image=rensei/busybox:latest;command=b6d1f2b7;env=fddf5b48;resources=2a3999de;restart=f5387113;networks=7139977a;volumes=dac85d78;files=51c27fa9;ports=a05fd458;hostname=b615e1e7;security=d30cf6bf;stop=99502ae1"; got != want {
		t.Errorf("fieldDigests = %s, want %s", got, want)
	}
	if got, want := d.spec(&drivers.ContainerSpec{}), "97503a1c0c8c1777"; got != want {
		t.Errorf("spec digest of the zero spec = %s, want %s", got, want)
	}
}

// fieldDigests is the io.rensei.spec-fields label of c.
func fieldDigests(c drivers.ContainerSpec) string {
	var d digester
	return d.fieldDigests(&c)
}

// jsonFieldDigests is how the field digests were first computed, through
// encoding/json: the reference the digester must match.
func jsonFieldDigests(c drivers.ContainerSpec) string {
	values := map[string]any{
		"command": c.Command, "env": c.Env, "resources": []int64{c.NanoCPUs, c.Memory}, "restart": c.Restart,
		"networks": c.Networks, "volumes": c.Mounts, "files": c.Files, "ports": c.Ports, "hostname": c.Hostname,
		"security": c.Security, "stop": []any{c.StopSignal, c.StopTimeout},
	}
	parts := []string{"image=" + c.Image}
	for _, f := range containerFields[1:] {
		parts = append(parts, f.name+"="+specDigest(values[f.name])[:8])
	}
	return strings.Join(parts, ";")
}

// trickyStrings are what JSON encoders disagree on.
var trickyStrings = []string{
	"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnew\nline\rreturn",
	"\x00\x01\x08\x0c\x1f\x7f", "é ü 日本語 🎓", "\u2028\u2029", "\xff\xfe", "a\xc3", "\uFFFD",
	"${rensei:address:server/0}",
}

func randomString(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return string(b)
	}
	return trickyStrings[r.IntN(len(trickyStrings))]
}

func randomStrings(r *rand.Rand) []string {
	switch r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	out := make([]string, 1+r.IntN(3))
	for i := range out {
		out[i] = randomString(r)
	}
	return out
}

func randomSpec(r *rand.Rand) drivers.ContainerSpec {
	c := drivers.ContainerSpec{
		Name: randomString(r), Hostname: randomString(r), Image: randomString(r), Command: randomStrings(r), Env: randomStrings(r),
		Restart: randomString(r), NanoCPUs: r.Int64N(3) * 5e8, Memory: r.Int64N(3) << 28,
		Security:   drivers.Security{PidsLimit: r.Int64N(2) * 512, NoNewPrivileges: r.IntN(2) == 0, LogMaxSize: randomString(r), LogMaxFiles: r.IntN(3)},
		StopSignal: randomString(r), StopTimeout: r.IntN(3) - 1,
	}
	if r.IntN(4) > 0 {
		c.Networks = []drivers.NetworkAttach{}
		for range r.IntN(3) {
			c.Networks = append(c.Networks, drivers.NetworkAttach{Network: randomString(r), IPv4: randomString(r), Aliases: randomStrings(r)})
		}
	}
	if r.IntN(4) > 0 {
		c.Mounts = []drivers.Mount{}
		for range r.IntN(3) {
			c.Mounts = append(c.Mounts, drivers.Mount{Volume: randomString(r), Target: randomString(r), ReadOnly: r.IntN(2) == 0})
		}
	}
	if r.IntN(4) > 0 {
		c.Files = []drivers.File{}
		for range r.IntN(3) {
			c.Files = append(c.Files, drivers.File{Path: randomString(r), Content: randomString(r), Mode: r.Int64N(0o1000)})
		}
	}
	if r.IntN(4) > 0 {
		c.Ports = []drivers.PortBinding{}
		for range r.IntN(3) {
			c.Ports = append(c.Ports, drivers.PortBinding{Container: r.IntN(70000) - 1, Host: r.IntN(2) * r.IntN(70000), Protocol: randomString(r), HostIP: randomString(r)})
		}
	}
	return c
}

// TestDigesterMatchesJSON: the digester's encodings are encoding/json's,
// byte for byte, so its digests are the ones stored on live containers.
func TestDigesterMatchesJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 15))
	var d digester
	for i := range 5000 {
		c := randomSpec(r)
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendContainer(nil, &c); !bytes.Equal(got, want) {
			t.Fatalf("spec %d:\n got %s\nwant %s", i, got, want)
		}
		if got, want := d.spec(&c), specDigest(c); got != want {
			t.Fatalf("spec %d: digest %s, want %s", i, got, want)
		}
		if got, want := d.fieldDigests(&c), jsonFieldDigests(c); got != want {
			t.Fatalf("spec %d: field digests\n got %s\nwant %s", i, got, want)
		}
		g := &schema.Group{
			Image: randomString(r), Command: randomStrings(r), Restart: randomString(r),
			Resources: schema.Resources{CPUs: float64(r.IntN(4)) / 4},
			Networks:  []schema.Attachment{{Network: randomString(r), Aliases: randomStrings(r)}},
			Files:     []schema.File{{Path: randomString(r), Content: randomString(r)}},
		}
		if r.IntN(2) == 0 {
			g.Env = map[string]string{randomString(r): randomString(r), randomString(r): randomString(r)}
		}
		inst := randomString(r)
		if got, want := d.content(newContentTail(g), inst), specDigest(contentOf(g, inst)); got != want {
			t.Fatalf("group %d: content digest %s, want %s", i, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString([]byte("x"), s); !bytes.Equal(got[1:], want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got[1:], want)
		}
	})
}

// TestPinsDigest: equal pins have one digest, different pins different
// ones, however their keys and values split the same characters.
func TestPinsDigest(t *testing.T) {
	a := Pins{Hosts: map[string]string{"e/g/a": "s/h1", "e/g/b": "s/h2"}, Addresses: map[string]string{"c/n": "10.0.0.2"}}
	b := Pins{Hosts: map[string]string{"e/g/b": "s/h2", "e/g/a": "s/h1"}, Addresses: map[string]string{"c/n": "10.0.0.2"}}
	if a.digest() != b.digest() {
		t.Error("equal pins, different digests")
	}
	if (Pins{}).digest() != "" || (Pins{Hosts: map[string]string{}}).digest() != "" {
		t.Error("no pins, a digest")
	}
	different := []Pins{
		a,
		{Hosts: map[string]string{"ab": "c"}},
		{Hosts: map[string]string{"a": "bc"}},
		{Addresses: map[string]string{"ab": "c"}},
		{Hosts: map[string]string{"a": "b", "c": ""}},
		{Hosts: map[string]string{"a": "b"}, Addresses: map[string]string{"c": ""}},
	}
	seen := map[string]int{}
	for i, p := range different {
		d := p.digest()
		if j, dup := seen[d]; dup {
			t.Errorf("pins %d and %d have the same digest", j, i)
		}
		seen[d] = i
	}
}

// TestDigesterKnowsEveryField: the digester writes the fields of these
// types by hand. A field added to one of them would be left out of the
// spec hash (its changes would recreate nothing) until the digester and
// randomSpec write it too; encoding/json would have hashed it (and
// changed every live container's hash: decide which on purpose).
func TestDigesterKnowsEveryField(t *testing.T) {
	known := map[reflect.Type]string{
		reflect.TypeFor[drivers.ContainerSpec](): "Name Hostname Image Command Env Labels Restart NanoCPUs Memory Networks Mounts Files Ports Security StopSignal StopTimeout",
		reflect.TypeFor[drivers.NetworkAttach](): "Network IPv4 Aliases",
		reflect.TypeFor[drivers.Mount]():         "Volume Target ReadOnly",
		reflect.TypeFor[drivers.File]():          "Path Content Mode",
		reflect.TypeFor[drivers.PortBinding]():   "Container Host Protocol HostIP",
		reflect.TypeFor[drivers.Security]():      "PidsLimit NoNewPrivileges LogMaxSize LogMaxFiles",
	}
	for typ, want := range known {
		var fields []string
		for f := range typ.Fields() {
			fields = append(fields, f.Name)
		}
		if got := strings.Join(fields, " "); got != want {
			t.Errorf("%s has fields %s; the digester writes %s (appendContainer and its helpers, randomSpec)", typ, got, want)
		}
	}
}
