package compare_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/test/golden"

	"github.com/rensei-dev/rensei/reconcile/compare"
	"github.com/rensei-dev/rensei/reconcile/render"
	"github.com/rensei-dev/rensei/schema"
)

// scenarios are edits of topology() whose rendering is kept as golden files.
var scenarios = []struct {
	name string
	edit func(*schema.Topology)
}{
	{"unchanged", func(*schema.Topology) {}},
	{"mixed", func(t *schema.Topology) {
		e := &t.Environments[0]
		e.Groups[0].Members = []string{"ann", "bob", "cyd", "eve"}
		e.Groups[1].Image = "busybox:2"
		e.Groups[1].Env = map[string]string{"MODE": "prod"}
		e.Networks[0].MTU = 1400
		t.Environments = append(t.Environments, schema.Environment{
			Name:     "spark",
			Networks: []schema.Network{{Name: "data", Subnet: "198.19.64.0/24", VNI: 5000}},
			Groups: []schema.Group{{Name: "worker", Image: "spark:3", Replicas: 2, Placement: schema.Placement{Sites: []string{"cloud"}},
				Networks: []schema.Attachment{{Network: "data"}}}},
		})
	}},
	{"rename", func(t *schema.Topology) { t.Environments[0].Groups[0].Name = "pupil" }},
	{"large", func(t *schema.Topology) {
		var ms []string
		for i := range 40 {
			ms = append(ms, fmt.Sprintf("s%02d", i))
		}
		t.Environments[0].Groups[0].Members = ms
	}},
	{"ended", func(t *schema.Topology) {
		t.Environments[0].Active = &schema.Window{From: schema.MustTime("2027-01-01"), Until: schema.MustTime("2027-04-30")}
	}},
}

func TestRenderGolden(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			base := desired(t, topology(), "1111111aaaaaaa")
			topo := topology()
			sc.edit(topo)
			head := desired(t, topo, "2222222bbbbbbb")
			d := compare.Compare(base, head)

			var text bytes.Buffer
			if err := render.Compare(&text, d, false); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, sc.name+".txt", text.Bytes())

			var md bytes.Buffer
			c := compare.NewComment(compare.Revision{Ref: "origin/main", Commit: base.Commit}, compare.Revision{Ref: "HEAD", Commit: head.Commit}, &d, "", nil)
			if err := render.Comment(&md, c); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, sc.name+".md", md.Bytes())
		})
	}
}

// TestMarkdownProblems: a head that does not validate gives a comment
// with every problem, file and line, in a code block.
func TestMarkdownProblems(t *testing.T) {
	ps := schema.Problems{
		{File: "environments/cs101.jsonnet", Line: 14, Msg: `group "lab": unknown site "hokudia"`},
		{File: "sites/campus.jsonnet", Line: 3, Msg: "host \"h0\": underlay \"x\" is not an IPv4 address"},
	}
	c := compare.NewComment(compare.Revision{Ref: "origin/main", Commit: "1111111aaaa"}, compare.Revision{Ref: "HEAD", Commit: "2222222bbbb"}, nil, "head", ps)
	var md bytes.Buffer
	if err := render.Comment(&md, c); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "problems.md", md.Bytes())
	if !strings.Contains(md.String(), "environments/cs101.jsonnet:14: group") {
		t.Errorf("problem without file and line:\n%s", md.String())
	}
}

// TestMarkdownBounded: a very large diff stays under GitHub's comment limit.
func TestMarkdownBounded(t *testing.T) {
	topo := topology()
	var ms []string
	for i := range 3000 {
		ms = append(ms, fmt.Sprintf("student-with-a-long-name-%04d", i))
	}
	topo.Environments[0].Groups[0].Members = ms
	topo.Environments[0].Networks[0].Subnet = "198.19.0.0/16"
	topo.Environments[0].Groups[1].Networks[0].Address = "198.19.0.10"
	head := desired(t, topo, "b")
	d := compare.Compare(nil, head)
	var md bytes.Buffer
	c := compare.NewComment(compare.Revision{Ref: "main"}, compare.Revision{Ref: "HEAD"}, &d, "", nil)
	if err := render.Comment(&md, c); err != nil {
		t.Fatal(err)
	}
	if md.Len() > 65536 {
		t.Errorf("comment is %d bytes, over GitHub's limit", md.Len())
	}
	if !strings.Contains(md.String(), "… and ") {
		t.Error("long host list not shortened")
	}
}
