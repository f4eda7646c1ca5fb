package images

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// baseFiles is a minimal base directory: only sources.list is read without Docker.
func baseFiles(fs fstest.MapFS) fstest.MapFS {
	fs["base/sources.list"] = &fstest.MapFile{Data: []byte("# comment\ndeb http://deb.debian.org/debian bookworm main\n")}
	fs["base/packages"] = &fstest.MapFile{Data: []byte("ca-certificates\n")}
	fs["base/customize.sh"] = &fstest.MapFile{Data: []byte("#!/bin/sh\n")}
	return fs
}

func testTree() fstest.MapFS {
	return baseFiles(fstest.MapFS{
		"web/Dockerfile":       {Data: []byte("FROM rensei/nginx\nCOPY x /\n")},
		"web/x":                {Data: []byte("web")},
		"nginx/Dockerfile":     {Data: []byte("# the proxy\nFROM rensei/base:bookworm\nRUN true\n")},
		"nginx/conf/site.conf": {Data: []byte("server {}\n")},
		"multi/Dockerfile": {Data: []byte("FROM --platform=linux/amd64 rensei/nginx:latest AS build\nRUN true\n" +
			"from build\nFROM rensei/base:bookworm\nCOPY --from=build / /\n")},
		"alpine/Dockerfile": {Data: []byte("FROM scratch\n")},
		"notes/README":      {Data: []byte("not an image: no Dockerfile")},
	})
}

func TestLoadOrder(t *testing.T) {
	tr, err := Load(testTree())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, img := range tr.Images() {
		got = append(got, img.Name+"<"+strings.Join(img.Parents, ",")+">")
	}
	want := []string{"alpine<>", "base<>", "nginx<base>", "multi<base,nginx>", "web<nginx>"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
	if got, want := tr.Tags(), []string{"rensei/alpine:latest", "rensei/base:bookworm", "rensei/nginx:latest", "rensei/multi:latest", "rensei/web:latest"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tags = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		names []string
		want  []string
	}{
		{[]string{"web"}, []string{"base", "nginx", "web"}},
		{[]string{"rensei/web:latest", "alpine"}, []string{"alpine", "base", "nginx", "web"}},
		{[]string{"rensei/nginx"}, []string{"base", "nginx"}},
		{nil, []string{"alpine", "base", "nginx", "multi", "web"}},
	} {
		imgs, err := tr.Closure(tc.names...)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, img := range imgs {
			got = append(got, img.Name)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Closure(%v) = %v, want %v", tc.names, got, tc.want)
		}
	}
	if _, err := tr.Closure("nope"); err == nil || !strings.Contains(err.Error(), `no image "nope"`) {
		t.Errorf("Closure(nope) error = %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"unknown parent", baseFiles(fstest.MapFS{"a/Dockerfile": {Data: []byte("# x\n\nFROM rensei/nothere:1\n")}}),
			"a/Dockerfile:3: FROM rensei/nothere:1: no directory of the image tree builds it"},
		{"cycle", baseFiles(fstest.MapFS{
			"a/Dockerfile": {Data: []byte("FROM rensei/b\n")},
			"b/Dockerfile": {Data: []byte("FROM rensei/a\n")},
		}), "FROM cycle among a, b"},
		{"self", baseFiles(fstest.MapFS{"a/Dockerfile": {Data: []byte("FROM rensei/a\n")}}), "cannot be built FROM itself"},
		{"bad sources", fstest.MapFS{"base/sources.list": {Data: []byte("deb-src x y\n")}}, "want \"deb URI SUITE COMPONENT...\""},
		{"no sources", fstest.MapFS{"base/packages": {Data: []byte("x\n")}}, "base/sources.list: no deb line"},
		{"empty FROM", baseFiles(fstest.MapFS{"a/Dockerfile": {Data: []byte("FROM --platform=x\n")}}), "a/Dockerfile:1: FROM without an image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.files)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func hashes(t *testing.T, fs fstest.MapFS) map[string]string {
	t.Helper()
	tr, err := Load(fs)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for _, img := range tr.Images() {
		h[img.Name] = img.Hash
	}
	return h
}

func TestHash(t *testing.T) {
	before := hashes(t, testTree())
	if again := hashes(t, testTree()); !reflect.DeepEqual(before, again) {
		t.Fatalf("hashes differ between two loads: %v %v", before, again)
	}
	for _, tc := range []struct {
		name    string
		change  func(fstest.MapFS)
		changed []string
	}{
		{"parent file", func(fs fstest.MapFS) { fs["nginx/conf/site.conf"] = &fstest.MapFile{Data: []byte("server { }\n")} },
			[]string{"nginx", "multi", "web"}},
		{"leaf file", func(fs fstest.MapFS) { fs["web/x"] = &fstest.MapFile{Data: []byte("web2")} }, []string{"web"}},
		{"new file", func(fs fstest.MapFS) { fs["web/y"] = &fstest.MapFile{Data: []byte("")} }, []string{"web"}},
		{"renamed file", func(fs fstest.MapFS) { fs["web/z"] = fs["web/x"]; delete(fs, "web/x") }, []string{"web"}},
		{"becomes executable", func(fs fstest.MapFS) { fs["web/x"] = &fstest.MapFile{Data: []byte("#!web")} }, []string{"web"}},
		{"base package list", func(fs fstest.MapFS) { fs["base/packages"] = &fstest.MapFile{Data: []byte("ca-certificates\ncurl\n")} },
			[]string{"base", "nginx", "multi", "web"}},
		{"base sources", func(fs fstest.MapFS) {
			fs["base/sources.list"] = &fstest.MapFile{Data: []byte("deb http://deb.debian.org/debian bookworm main\n" +
				"deb http://deb.debian.org/debian bookworm-updates main\n")}
		}, []string{"base", "nginx", "multi", "web"}},
		{"dotfile ignored", func(fs fstest.MapFS) { fs["web/.swp"] = &fstest.MapFile{Data: []byte("x")} }, nil},
		{"mode bits ignored", func(fs fstest.MapFS) { fs["web/x"] = &fstest.MapFile{Data: []byte("web"), Mode: 0o755} }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := testTree()
			tc.change(fs)
			after := hashes(t, fs)
			var changed []string
			for _, n := range []string{"alpine", "base", "nginx", "multi", "web"} {
				if before[n] != after[n] {
					changed = append(changed, n)
				}
			}
			if !reflect.DeepEqual(changed, tc.changed) {
				t.Errorf("changed = %v, want %v", changed, tc.changed)
			}
		})
	}
}

func TestContextTar(t *testing.T) {
	tr, err := Load(testTree())
	if err != nil {
		t.Fatal(err)
	}
	img := tr.Image("nginx")
	a, err := contextTar(img.files)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := contextTar(img.files)
	if !bytes.Equal(a, b) {
		t.Error("two context tarballs of the same files differ")
	}
	r := tar.NewReader(bytes.NewReader(a))
	var got []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.Name)
	}
	if want := []string{"conf/", "Dockerfile", "conf/site.conf"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tar = %v, want %v", got, want)
	}
	base := tr.Image("base")
	if f := base.file("customize.sh"); f == nil || f.mode != 0o755 {
		t.Errorf("customize.sh: %+v, want mode 0755 (it starts with #!)", f)
	}
}

func TestParsePackages(t *testing.T) {
	in := "adduser\t3.134\nlibc6:amd64\t2.36-9+deb12u13\nnotinstalled\n\npython3-notebook 6.4.12-2.2\n"
	got, err := ParsePackages(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"adduser": "3.134", "libc6": "2.36-9+deb12u13", "python3-notebook": "6.4.12-2.2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := ParsePackages(strings.NewReader("a b c\n")); err == nil {
		t.Error("three fields: no error")
	}
}

// TestEmbedded checks the tree compiled into the package: it parses, the
// base comes first, and the course images are there.
func TestEmbedded(t *testing.T) {
	tr, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	tags := Tags()
	if len(tags) == 0 || tags[0] != "rensei/base:bookworm" {
		t.Fatalf("Tags() = %v, want rensei/base:bookworm first", tags)
	}
	for _, n := range courseImages {
		img := tr.Image(n)
		if img == nil {
			t.Fatalf("no image %s in %v", n, tags)
		}
		if !strings.Contains(string(img.file("Dockerfile").data), "rensei-packages") {
			t.Errorf("%s/Dockerfile does not run rensei-packages", n)
		}
	}
	if web := tr.Image("web"); !reflect.DeepEqual(web.Parents, []string{"frontdoor"}) {
		t.Errorf("web parents = %v, want [frontdoor]", web.Parents)
	}
}

// courseImages are the images this package's integration tests build and run.
var courseImages = []string{"notebook", "frontdoor", "web", "lb"}

// dockerClient returns a client of the local engine, or skips the test when
// there is none; with CI=true a missing engine is a failure.
func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = cli.Ping(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Docker engine: %v (CI=true: a missing prerequisite is a failure)", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// slogFor logs through t.Log, at info level.
func slogFor(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(&testLog{t: t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testLog struct{ t *testing.T }

func (l *testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// buildCourse builds (or finds) the course images; the first build on a new
// engine takes minutes, then it is a few inspects.
func buildCourse(t *testing.T, cli client.APIClient) []Built {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	built, err := Build(ctx, cli, Options{Names: courseImages, Logger: slogFor(t)})
	if err != nil {
		t.Fatal(err)
	}
	return built
}

func TestBuild(t *testing.T) {
	cli := dockerClient(t)
	built := buildCourse(t, cli)
	byName := map[string]Built{}
	for _, b := range built {
		byName[b.Name] = b
		state := "built"
		if b.Cached {
			state = "cached"
		}
		t.Logf("%-24s %.19s %6.1f MB %s %s", b.Tag, b.ID, float64(b.Size)/1e6, state, b.Duration.Round(time.Millisecond))
	}
	for _, n := range append([]string{"base"}, courseImages...) {
		if _, ok := byName[n]; !ok {
			t.Errorf("Build did not return %s", n)
		}
	}
	if built[0].Name != "base" {
		t.Errorf("first image = %s, want base", built[0].Name)
	}

	ctx := context.Background()
	pkgs, err := Packages(ctx, cli, "rensei/notebook:latest")
	if err != nil {
		t.Fatal(err)
	}
	if v := pkgs["python3-notebook"]; !strings.HasPrefix(v, "6.4.") {
		t.Errorf("notebook: python3-notebook %q, want 6.4.x", v)
	}
	t.Logf("notebook: %d packages, python3-notebook %s, python3-ipykernel %s, python3-terminado %s",
		len(pkgs), pkgs["python3-notebook"], pkgs["python3-ipykernel"], pkgs["python3-terminado"])
	for _, c := range []struct{ ref, pkg string }{
		{"rensei/base:bookworm", "ca-certificates"},
		{"rensei/frontdoor:latest", "nginx-light"},
		{"rensei/web:latest", "nginx-light"},
		{"rensei/lb:latest", "haproxy"},
	} {
		pkgs, err := Packages(ctx, cli, c.ref)
		if err != nil {
			t.Fatal(err)
		}
		if pkgs[c.pkg] == "" {
			t.Errorf("%s: %s not in %s", c.ref, c.pkg, PackagesPath)
		}
		t.Logf("%s: %d packages, %s %s", c.ref, len(pkgs), c.pkg, pkgs[c.pkg])
	}
	ins, err := cli.ImageInspect(ctx, "rensei/notebook:latest")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{LabelName, LabelHash, LabelDebianDate, LabelDebianSuite, LabelDebianRelease + "bookworm"} {
		if ins.Config.Labels[l] == "" {
			t.Errorf("notebook: no label %s in %v", l, ins.Config.Labels)
		}
	}

	start := time.Now()
	again, err := Build(ctx, cli, Options{Names: courseImages, Logger: slogFor(t)})
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	for _, b := range again {
		if !b.Cached || b.ID != byName[b.Name].ID {
			t.Errorf("second build of %s: cached %v, ID %s (first %s)", b.Name, b.Cached, b.ID, byName[b.Name].ID)
		}
	}
	if d > 2*time.Second {
		t.Errorf("second build took %s, want < 2s", d)
	}
	t.Logf("second build: %d images, all cached, %s", len(again), d.Round(time.Millisecond))
}

// emptyTarget makes an engine look as if it had no images at first, so Copy
// from an engine to itself goes through save and load.
type emptyTarget struct {
	client.APIClient
	inspected bool
}

func (e *emptyTarget) ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error) {
	if !e.inspected {
		e.inspected = true
		return image.InspectResponse{}, cerrdefs.ErrNotFound
	}
	return e.APIClient.ImageInspect(ctx, ref, opts...)
}

func TestCopy(t *testing.T) {
	cli := dockerClient(t)
	ctx := context.Background()
	// A one-file image of our own: the test may remove it again.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte("copied\n")
	_ = tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: int64(len(body))})
	_, _ = tw.Write(body)
	_ = tw.Close()
	tag := "rensei-imgtest/copy:" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + time.Now().Format("150405")
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: &buf, SourceName: "-"}, tag, image.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, rc)
	rc.Close()
	t.Cleanup(func() { _, _ = cli.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true}) })

	if err := Copy(ctx, cli, cli, tag); err != nil {
		t.Fatalf("Copy to an engine that has the image: %v", err)
	}
	target := &emptyTarget{APIClient: cli}
	if err := Copy(ctx, cli, target, tag); err != nil {
		t.Fatalf("Copy through save and load: %v", err)
	}
	if !target.inspected {
		t.Error("Copy did not inspect the target")
	}
	if err := Copy(ctx, cli, cli, "rensei-imgtest/none:missing"); err == nil || !cerrdefs.IsNotFound(err) {
		t.Errorf("Copy of a missing image: %v, want not found", err)
	}
}
