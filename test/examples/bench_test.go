package examples_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/schema"
)

// BenchmarkLabCourse1000 loads, validates (every roster id checked) and
// places the lab course with 1,000 students in its spring roster, on
// roomier lab sites and a /16 overlay.
func BenchmarkLabCourse1000(b *testing.B) {
	fsys := exampleFS(b, "lab-course")
	var csv strings.Builder
	csv.WriteString("id,name\n")
	for i := range 1000 {
		csv.WriteString("s" + strconv.Itoa(10000+i) + ",Student " + strconv.Itoa(i) + "\n")
	}
	fsys[springCSV] = &fstest.MapFile{Data: []byte(csv.String())}
	replace := func(file, old, new string) {
		f := fsys[file]
		if !strings.Contains(string(f.Data), old) {
			b.Fatalf("%s does not contain %q", file, old)
		}
		fsys[file] = &fstest.MapFile{Data: []byte(strings.Replace(string(f.Data), old, new, 1))}
	}
	replace("sites/lab.jsonnet", "capacity={ cpus: 4, memory: '8Gi', containers: 50 }", "capacity={ cpus: 400, memory: '800Gi' }")
	replace(springFile, "subnet='198.19.32.0/24'", "subnet='198.19.0.0/16'")
	replace(springFile, "frontDoor='198.19.32.10'", "frontDoor='198.19.0.10'")
	b.ReportAllocs()
	for b.Loop() {
		rev, err := engine.Load(context.Background(), engine.Source{FS: fsys}, nil, schema.Options{}, "")
		if err != nil {
			b.Fatal(err)
		}
		want, err := rev.At(inSpring)
		if err != nil {
			b.Fatal(err)
		}
		if n := len(containersOf(want, spring)); n != 1003 {
			b.Fatalf("%d containers, want 1003", n)
		}
	}
}
