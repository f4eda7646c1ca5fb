package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/test/lab"
	"github.com/rensei-dev/rensei/test/lab/labtest"
)

// labSite is one lab site as the tests reach it from outside.
type labSite struct {
	name     string // site-a
	key      string // site-a/docker, the host key plans use
	netns    string // rs-lab-a
	docker   string // unix:///run/rensei-lab/site-a/docker.sock
	underlay string // 198.18.0.1
}

// fed is the federation under test: the lab and a copy of the example
// config repository that the scenarios edit.
type fed struct {
	repo  string
	sites []labSite
	// notes are the timings and connectivity results the package reports
	// at the end, in order.
	notes []string
}

func (f *fed) site(t *testing.T, name string) labSite {
	t.Helper()
	for _, s := range f.sites {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no lab site %s", name)
	return labSite{}
}

func (f *fed) note(format string, args ...any) {
	f.notes = append(f.notes, fmt.Sprintf(format, args...))
}

// TestFederation applies examples/federated-lecture to a fresh three-site
// lab and runs the scenarios in order on that one lab: first converge,
// drift repair, a site outage, removal of the environment. Each scenario
// starts from the converged state the previous one left.
func TestFederation(t *testing.T) {
	start := time.Now()
	st := labtest.ForTest(t, 3)
	f := &fed{repo: t.TempDir()}
	f.note("lab up (3 sites): %s", time.Since(start).Round(time.Millisecond))
	for _, s := range st.Sites {
		f.sites = append(f.sites, labSite{name: s.Name, key: s.Name + "/docker", netns: s.Netns, docker: s.Docker, underlay: s.Underlay})
	}
	copyDir(t, filepath.Join(repoRoot, exampleDir), f.repo)
	t.Cleanup(func() {
		t.Logf("summary:\n  %s", strings.Join(f.notes, "\n  "))
	})

	steps := []struct {
		name string
		run  func(*testing.T, *fed)
	}{
		{"sites-match-lab", testSitesMatchLab},
		{"apply", testApply},
		{"drift", testDrift},
		{"site-down", testSiteDown},
		{"environment-removed", testEnvironmentRemoved},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.run(t, f) }) {
			t.Fatalf("%s failed: the later scenarios need its end state", s.name)
		}
	}
}

// testSitesMatchLab checks that sites/lab.jsonnet describes the lab that
// lab.Up made: endpoints, underlay addresses and namespaces.
func testSitesMatchLab(t *testing.T, f *fed) {
	out := evaluate(t, f.repo)
	if len(out.Hosts) != len(f.sites) {
		t.Fatalf("config has %d hosts, lab has %d sites", len(out.Hosts), len(f.sites))
	}
	for _, h := range out.Hosts {
		s := f.site(t, h.Site)
		if h.Key != s.key || h.Spec.Docker != s.docker || h.Spec.Underlay != s.underlay || h.Spec.Netns != s.netns {
			t.Errorf("config host %s (docker %s, underlay %s, netns %s) does not match lab site %+v",
				h.Key, h.Spec.Docker, h.Spec.Underlay, h.Spec.Netns, s)
		}
	}
}

// testApply converges the lab from empty and checks the result from
// outside: containers per site, tunnels and FDB entries, and traffic
// between the sites over the overlay.
func testApply(t *testing.T, f *fed) {
	mustRensei(t, 0, "validate", f.repo)
	// Every lab host is observed as the issue asks: engine and version,
	// underlay present in the site's namespace, VXLAN available.
	hosts := mustRensei(t, 0, "hosts", "-o", "json", f.repo)
	var rows []struct {
		Host   string `json:"host"`
		Status struct {
			Reachable     bool   `json:"reachable"`
			DockerVersion string `json:"dockerVersion"`
			UnderlayFound bool   `json:"underlayFound"`
			VXLAN         bool   `json:"vxlan"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(hosts.stdout), &rows); err != nil {
		t.Fatalf("hosts -o json: %v\n%s", err, hosts.stdout)
	}
	if len(rows) != 3 {
		t.Fatalf("hosts: %d rows, want 3:\n%s", len(rows), hosts.stdout)
	}
	for _, r := range rows {
		if st := r.Status; !st.Reachable || st.DockerVersion == "" || !st.UnderlayFound || !st.VXLAN {
			t.Errorf("host %s observed as %+v; want reachable, a version, underlay present, VXLAN", r.Host, st)
		}
	}
	p := f.planJSON(t, 2)
	if n := len(p.changes()); n != 19 {
		t.Errorf("first plan: %d changes, want 19 (3 networks, 6 volumes, 3 tunnels, 7 containers)", n)
	}
	for _, s := range p.Steps {
		if s.Action != "create" {
			t.Errorf("first plan on empty sites: %s %s %s on %s (%s), want only creates", s.Action, s.Kind, s.Name, s.Host, s.Reason)
		}
	}
	f.apply(t, "first converge", 0)
	f.assertConverged(t)
	// A second apply finds nothing to do and changes nothing.
	r := mustRensei(t, 0, "apply", "--yes", f.repo)
	if !strings.Contains(r.stdout, "No changes: every host is converged.") {
		t.Errorf("second apply did something:\n%s", r.stdout)
	}
	f.note("apply with nothing to do: %s", r.took.Round(time.Millisecond))
	f.checkContainers(t, f.sites...)
	f.checkTunnels(t, f.sites...)
	f.checkTraffic(t, "after first converge")
	page := f.wget(t, f.site(t, "site-b"), f.studentAt(t, "site-b"))
	for _, id := range []string{"aiko", "bunta", "chihiro", "daichi", "emi", "fumio"} {
		if !strings.Contains(page, "<li>"+id+":") {
			t.Errorf("course page does not list %s:\n%s", id, page)
		}
	}
}

// drift is one way a site can stray from the configuration, and the one
// step the plan must propose to repair it.
type drift struct {
	name string
	site string
	// prepare runs before the damage (e.g. leave data in a volume); check
	// runs after the repair.
	prepare func(t *testing.T, f *fed, s labSite, ctr string)
	damage  func(t *testing.T, f *fed, s labSite, ctr string)
	check   func(t *testing.T, f *fed, s labSite, ctr string)
	// The plan's only step: kind, object (ctrPlaceholder stands for the
	// site's first student), action and a part of the reason.
	kind, object, action, reason string
}

const ctrPlaceholder = "<student>"

func ipNS(s labSite, args ...string) []string { return append([]string{"-n", s.netns}, args...) }

var drifts = []drift{
	{
		name: "vxlan-deleted", site: "site-a",
		damage: func(t *testing.T, f *fed, s labSite, _ string) {
			must(t, "ip", ipNS(s, "link", "del", tunnel)...)
		},
		kind: "tunnel", object: tunnel, action: "create", reason: "absent: vni 2020 to 198.18.0.2, 198.18.0.3",
	},
	{
		name: "fdb-entry-removed", site: "site-a",
		damage: func(t *testing.T, f *fed, s labSite, _ string) {
			must(t, "bridge", ipNS(s, "fdb", "del", "00:00:00:00:00:00", "dev", tunnel, "dst", "198.18.0.2")...)
		},
		kind: "tunnel", object: tunnel, action: "update", reason: "FDB entry to 198.18.0.2 missing",
	},
	{
		name: "fdb-entry-stale", site: "site-c",
		damage: func(t *testing.T, f *fed, s labSite, _ string) {
			must(t, "bridge", ipNS(s, "fdb", "append", "00:00:00:00:00:00", "dev", tunnel, "dst", "198.18.0.99")...)
		},
		kind: "tunnel", object: tunnel, action: "update", reason: "stale FDB entry to 198.18.0.99",
	},
	{
		name: "vxlan-detached", site: "site-b",
		damage: func(t *testing.T, f *fed, s labSite, _ string) {
			must(t, "ip", ipNS(s, "link", "set", tunnel, "nomaster")...)
		},
		kind: "tunnel", object: tunnel, action: "update", reason: "detached from bridge " + bridgeDev,
	},
	{
		name: "mtu-changed", site: "site-c",
		damage: func(t *testing.T, f *fed, s labSite, _ string) {
			must(t, "ip", ipNS(s, "link", "set", tunnel, "mtu", "1300")...)
		},
		kind: "tunnel", object: tunnel, action: "update", reason: "mtu 1300 → 1450",
	},
	{
		name: "vxlan-down", site: "site-b",
		damage: func(t *testing.T, f *fed, s labSite, _ string) {
			must(t, "ip", ipNS(s, "link", "set", tunnel, "down")...)
		},
		kind: "tunnel", object: tunnel, action: "update", reason: "down",
	},
	{
		name: "container-removed", site: "site-b",
		prepare: func(t *testing.T, f *fed, s labSite, ctr string) {
			s.exec(t, ctr, "sh", "-c", "echo kept > /home/student/notes.txt")
		},
		damage: func(t *testing.T, f *fed, s labSite, ctr string) {
			s.dockerCmd(t, "rm", "-f", ctr)
		},
		check: func(t *testing.T, f *fed, s labSite, ctr string) {
			if got := strings.TrimSpace(s.exec(t, ctr, "cat", "/home/student/notes.txt")); got != "kept" {
				t.Errorf("home volume of %s after the container was recreated: %q, want %q", ctr, got, "kept")
			}
		},
		kind: "container", object: ctrPlaceholder, action: "create", reason: "absent",
	},
	{
		name: "container-stopped", site: "site-a",
		damage: func(t *testing.T, f *fed, s labSite, ctr string) {
			s.dockerCmd(t, "stop", "-t", "1", ctr)
		},
		kind: "container", object: ctrPlaceholder, action: "update", reason: "stopped: start it",
	},
}

// testDrift damages one thing at a time; the plan must name exactly that
// damage, apply must repair it, and the sites must talk again afterwards.
func testDrift(t *testing.T, f *fed) {
	for _, d := range drifts {
		t.Run(d.name, func(t *testing.T) {
			s := f.site(t, d.site)
			ctr := ""
			if d.object == ctrPlaceholder {
				ctr = f.studentAt(t, d.site)
			}
			if d.prepare != nil {
				d.prepare(t, f, s, ctr)
			}
			d.damage(t, f, s, ctr)
			want := planStep{Host: s.key, Kind: d.kind, Name: strings.ReplaceAll(d.object, ctrPlaceholder, ctr), Action: d.action}
			p := f.planJSON(t, 2)
			changes := p.changes()
			if len(changes) != 1 || changes[0].Host != want.Host || changes[0].Kind != want.Kind ||
				changes[0].Name != want.Name || changes[0].Action != want.Action || !strings.Contains(changes[0].Reason, d.reason) {
				t.Fatalf("plan after %s: %v\nwant exactly: %s %s %s on %s (reason containing %q)", d.name, changes, want.Action, want.Kind, want.Name, want.Host, d.reason)
			}
			// The text a person reads says the same, under the host's heading.
			text := mustRensei(t, 2, "plan", "--detailed-exitcode", f.repo)
			line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(s.key) + `\n  [~+±-] ` + regexp.QuoteMeta(want.Kind) + ` +` +
				regexp.QuoteMeta(want.Name) + `: .*` + regexp.QuoteMeta(d.reason))
			if !line.MatchString(text.stdout) {
				t.Errorf("plan text does not say %q under %s:\n%s", d.reason, s.key, text.stdout)
			}
			f.apply(t, "repair "+d.name, 0)
			f.assertConverged(t)
			f.checkTunnels(t, f.sites...)
			f.checkContainers(t, f.sites...)
			if d.check != nil {
				d.check(t, f, s, ctr)
			}
			f.checkTraffic(t, "after repairing "+d.name)
		})
	}
}

// testSiteDown cuts site-b's power and adds two students meanwhile, one
// placed at site-a and one at site-b. Apply must report site-b unreachable
// and exit 1, yet converge the other sites: the new student at site-a, the
// course page that lists both (replaced at site-c) and a tunnel deleted at
// site-c meanwhile. Once site-b is back, apply converges it too: its
// containers restart by themselves, the new student there is created.
func testSiteDown(t *testing.T, f *fed) {
	before := evaluate(t, f.repo).placement()
	roster := filepath.Join(f.repo, "environments", "roster.csv")
	b, err := os.ReadFile(roster)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, []byte(newStudent+",Isamu Yamada\n"+newStudentB+",Gen Kato\n")...)
	if err := os.WriteFile(roster, b, 0o644); err != nil {
		t.Fatal(err)
	}
	after := evaluate(t, f.repo).placement()
	newCtr, newCtrB := "lecture_student_"+newStudent, "lecture_student_"+newStudentB
	for site, names := range after {
		want := slices.Clone(before[site])
		switch site {
		case "site-a":
			want = append(want, newCtr)
		case "site-b":
			want = append(want, newCtrB)
		}
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Fatalf("placement at %s after adding %s and %s: %v, want %v (the scenario needs one new student at site-a, one at site-b, and nobody moved)",
				site, newStudent, newStudentB, names, want)
		}
	}

	siteA, siteB, siteC := f.site(t, "site-a"), f.site(t, "site-b"), f.site(t, "site-c")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := lab.StopSite(ctx, lab.Options{}, siteB.name); err != nil {
		t.Fatalf("stop %s: %v", siteB.name, err)
	}
	if _, err := command("docker", "-H", siteB.docker, "version"); err == nil {
		t.Fatalf("%s still answers after StopSite", siteB.name)
	}
	must(t, "ip", ipNS(siteC, "link", "del", tunnel)...)

	r := f.apply(t, "converge with site-b down", 1)
	if !strings.Contains(r.stderr, "unreachable, skipped: "+siteB.key+"; everything else converged") {
		t.Errorf("apply does not report %s unreachable on stderr:\n%s", siteB.key, r.stderr)
	}
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(siteB.key) + `: unreachable, not planned: `).MatchString(r.stdout) {
		t.Errorf("apply's plan does not show %s skipped as unreachable:\n%s", siteB.key, r.stdout)
	}
	for _, want := range []string{
		"+ container " + newCtr + ": absent",
		"± container " + wwwName + ": files changed",
		"+ tunnel    " + tunnel + ": absent",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apply with site-b down: output lacks %q:\n%s", want, r.stdout)
		}
	}
	// The reachable sites are converged.
	mustRensei(t, 0, "plan", "--detailed-exitcode", "--hosts", siteA.key+","+siteC.key, f.repo)
	// A plan of every host cannot vouch for site-b: it shows the host
	// skipped and fails, so a CI drift check never reads it as all clear.
	full := rensei(t, "plan", "--detailed-exitcode", f.repo)
	if full.code != 1 || !strings.Contains(full.stderr, "unreachable, not planned: "+siteB.key) {
		t.Errorf("plan with %s down: exit %d, stderr %q; want exit 1 naming the host", siteB.key, full.code, full.stderr)
	}
	f.checkContainers(t, siteA, siteC)
	f.checkTunnels(t, siteA, siteC)
	f.ping(t, siteA, newCtr, wwwAddr, "new student at site-a → www at site-c, site-b down")
	if got := f.wget(t, siteA, newCtr); !strings.Contains(got, "<li>"+newStudent+": Isamu Yamada</li>") {
		t.Errorf("course page served from site-c does not list the new student:\n%s", got)
	}

	start := time.Now()
	if err := lab.StartSite(ctx, lab.Options{}, siteB.name); err != nil {
		t.Fatalf("start %s: %v", siteB.name, err)
	}
	f.note("site-b restarted: %s", time.Since(start).Round(time.Millisecond))
	p := f.planJSON(t, 2)
	if c := p.changes(); len(c) != 2 || c[0].Host != siteB.key || c[1].Host != siteB.key ||
		!slices.ContainsFunc(c, func(s planStep) bool { return s.Kind == "container" && s.Name == newCtrB && s.Action == "create" }) {
		t.Errorf("plan once site-b is back: %v\nwant only site-b's new student and home volume", c)
	}
	f.apply(t, "converge after site-b is back", 0)
	f.assertConverged(t)
	f.checkContainers(t, f.sites...)
	f.checkTunnels(t, f.sites...)
	f.checkTraffic(t, "after site-b came back")
	f.ping(t, siteA, newCtr, f.addressOf(t, siteB, newCtrB), "new student at site-a → new student at site-b")
	f.ping(t, siteB, newCtrB, wwwAddr, "new student at site-b → www at site-c")
}

// testEnvironmentRemoved deletes the environment's file: apply must remove
// its containers, Docker networks and tunnels at every site, and keep the
// students' home volumes with their data.
func testEnvironmentRemoved(t *testing.T, f *fed) {
	student := f.studentAt(t, "site-b") // the one whose notes the drift scenario left
	wantVolumes := map[string][]string{}
	for site, names := range evaluate(t, f.repo).placement() {
		for _, n := range names {
			if strings.HasPrefix(n, "lecture_student_") {
				wantVolumes[site] = append(wantVolumes[site], n+"_home")
			}
		}
	}
	if err := os.Remove(filepath.Join(f.repo, "environments", "lecture.jsonnet")); err != nil {
		t.Fatal(err)
	}
	p := f.planJSON(t, 2)
	for _, s := range p.Steps {
		ok := (s.Action == "delete" && s.Kind != "volume") || (s.Action == "keep" && s.Kind == "volume")
		if !ok || !strings.Contains(s.Reason, `environment "lecture" was removed from the configuration`) {
			t.Errorf("plan after removing the environment: %s %s %s on %s: %s", s.Action, s.Kind, s.Name, s.Host, s.Reason)
		}
	}
	f.apply(t, "remove the environment", 0)
	f.assertConverged(t)
	for _, s := range f.sites {
		links := must(t, "ip", ipNS(s, "-o", "link", "show")...)
		for _, l := range strings.Split(links, "\n") {
			if strings.Contains(l, "rs-vx-") || strings.Contains(l, "rs-br-") {
				t.Errorf("%s: link left after the environment was removed: %s", s.name, l)
			}
		}
		filter := "label=io.rensei.env=" + envName
		if out := strings.TrimSpace(s.dockerCmd(t, "ps", "-a", "-q", "--filter", filter)); out != "" {
			t.Errorf("%s: containers left: %s", s.name, out)
		}
		if out := strings.TrimSpace(s.dockerCmd(t, "network", "ls", "-q", "--filter", filter)); out != "" {
			t.Errorf("%s: Docker networks left: %s", s.name, out)
		}
		vols := strings.Fields(s.dockerCmd(t, "volume", "ls", "-q", "--filter", filter))
		slices.Sort(vols)
		want := wantVolumes[s.name]
		slices.Sort(want)
		if !slices.Equal(vols, want) {
			t.Errorf("%s: volumes %v, want every student's home kept: %v", s.name, vols, want)
		}
	}
	// The data is still in the volume of the student whose container was
	// removed and recreated during the drift scenario.
	b := f.site(t, "site-b")
	vol := student + "_home"
	out := b.dockerCmd(t, "run", "--rm", "--network", "none", "-v", vol+":/h", "rensei/busybox:latest", "cat", "/h/notes.txt")
	if strings.TrimSpace(out) != "kept" {
		t.Errorf("volume %s after the environment was removed: %q, want %q", vol, out, "kept")
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// planStep and planOut are the parts of `rensei plan -o json` the tests read.
type planStep struct {
	Host   string `json:"host"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Action string `json:"action"`
	Reason string `json:"reason"`
}

func (s planStep) String() string {
	return fmt.Sprintf("%s %s %s on %s: %s", s.Action, s.Kind, s.Name, s.Host, s.Reason)
}

type planOut struct {
	Steps []planStep `json:"steps"`
}

func (p planOut) changes() []planStep {
	var out []planStep
	for _, s := range p.Steps {
		if s.Action != "skip" && s.Action != "keep" {
			out = append(out, s)
		}
	}
	return out
}

// planJSON plans every host with --detailed-exitcode and wants code.
func (f *fed) planJSON(t *testing.T, code int) planOut {
	t.Helper()
	r := mustRensei(t, code, "plan", "-o", "json", "--detailed-exitcode", f.repo)
	var p planOut
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("plan -o json: %v", err)
	}
	return p
}

// apply runs `rensei apply --yes` and wants code; on success it wants the
// converge check apply makes itself to have passed.
func (f *fed) apply(t *testing.T, what string, code int) result {
	t.Helper()
	r := mustRensei(t, code, "apply", "--yes", f.repo)
	f.note("apply (%s): exit %d in %s: %s", what, r.code, r.took.Round(time.Millisecond), firstLine(r.stdout, "Applied "))
	if code == 0 && !strings.Contains(r.stdout, "Converged: a second plan is empty.") && !strings.Contains(r.stdout, "No changes") {
		t.Fatalf("apply exited 0 without saying it converged:\n%s", r.stdout)
	}
	return r
}

func firstLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return lastLine(s)
}

// assertConverged wants a plan of every host with nothing to do.
func (f *fed) assertConverged(t *testing.T) {
	t.Helper()
	r := mustRensei(t, 0, "plan", "--detailed-exitcode", f.repo)
	if !strings.Contains(r.stdout, "No changes: every host is converged") {
		t.Fatalf("plan after apply is not empty:\n%s", r.stdout)
	}
}
