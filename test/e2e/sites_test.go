package e2e_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// dockerCmd runs the docker CLI against the site's engine.
func (s labSite) dockerCmd(t *testing.T, args ...string) string {
	t.Helper()
	return must(t, "docker", append([]string{"-H", s.docker}, args...)...)
}

// exec runs a command in a container of the site.
func (s labSite) exec(t *testing.T, ctr string, args ...string) string {
	t.Helper()
	return s.dockerCmd(t, append([]string{"exec", ctr}, args...)...)
}

// studentAt is the first student container (by name) the configuration
// places at site.
func (f *fed) studentAt(t *testing.T, site string) string {
	t.Helper()
	for _, n := range evaluate(t, f.repo).placement()[site] {
		if strings.HasPrefix(n, "lecture_student_") {
			return n
		}
	}
	t.Fatalf("no student placed at %s", site)
	return ""
}

// addressOf is the container's address on the overlay.
func (f *fed) addressOf(t *testing.T, s labSite, ctr string) string {
	t.Helper()
	addr := strings.TrimSpace(s.dockerCmd(t, "inspect", "-f", `{{(index .NetworkSettings.Networks "`+dockerNet+`").IPAddress}}`, ctr))
	if addr == "" {
		t.Fatalf("%s/%s has no address on %s", s.name, ctr, dockerNet)
	}
	return addr
}

var rtt = regexp.MustCompile(`round-trip min/avg/max = (\S+)`)

// ping sends one echo request from a container to addr, trying up to three
// times (the first may wait for ARP across the overlay); it fails the test
// when none is answered.
func (f *fed) ping(t *testing.T, s labSite, ctr, addr, what string) {
	t.Helper()
	var out string
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		out, err = command("docker", "-H", s.docker, "exec", ctr, "ping", "-c", "1", "-W", "2", addr)
		if err == nil {
			m := rtt.FindStringSubmatch(out)
			r := "?"
			if m != nil {
				r = m[1] + " ms"
			}
			f.note("  ping %s: %s/%s → %s: ok (attempt %d, rtt %s)", what, s.name, ctr, addr, attempt, r)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	f.note("  ping %s: %s/%s → %s: FAILED", what, s.name, ctr, addr)
	t.Fatalf("ping %s: from %s/%s to %s: %v", what, s.name, ctr, addr, err)
}

// wget fetches the course page from the web server's static address at
// site-c over the overlay (TCP), trying up to three times. (busybox 1.35's
// wget -T crashes, hence timeout.)
func (f *fed) wget(t *testing.T, s labSite, ctr string) string {
	t.Helper()
	var out string
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		out, err = command("docker", "-H", s.docker, "exec", ctr, "timeout", "10", "wget", "-q", "-O", "-", "http://"+wwwAddr+"/")
		if err == nil && strings.Contains(out, "<title>NET101</title>") {
			f.note("  wget %s/%s → http://%s/: %d bytes (attempt %d)", s.name, ctr, wwwAddr, len(out), attempt)
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
	f.note("  wget %s/%s → http://%s/: FAILED", s.name, ctr, wwwAddr)
	t.Fatalf("wget http://%s/ from %s/%s: %v\n%s", wwwAddr, s.name, ctr, err, out)
	return ""
}

// checkTraffic crosses the overlay between every pair of sites: student at
// site-a → student at site-b, both students → the web server at site-c,
// and an HTTP request from site-a to site-c.
func (f *fed) checkTraffic(t *testing.T, when string) {
	t.Helper()
	f.note("traffic %s:", when)
	a, b := f.site(t, "site-a"), f.site(t, "site-b")
	sa, sb := f.studentAt(t, "site-a"), f.studentAt(t, "site-b")
	f.ping(t, a, sa, f.addressOf(t, b, sb), "site-a → site-b")
	f.ping(t, a, sa, wwwAddr, "site-a → site-c")
	f.ping(t, b, sb, wwwAddr, "site-b → site-c")
	f.wget(t, a, sa)
}

// checkContainers wants exactly the containers the configuration places at
// each of sites, all running.
func (f *fed) checkContainers(t *testing.T, sites ...labSite) {
	t.Helper()
	placement := evaluate(t, f.repo).placement()
	for _, s := range sites {
		out := s.dockerCmd(t, "ps", "-a", "--filter", "label=io.rensei.env="+envName, "--format", "{{.Names}} {{.State}}")
		var names []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			name, state, _ := strings.Cut(l, " ")
			if name == "" {
				continue
			}
			names = append(names, name)
			if state != "running" {
				t.Errorf("%s: container %s is %s", s.name, name, state)
			}
		}
		slices.Sort(names)
		want := slices.Clone(placement[s.name])
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Errorf("%s: containers %v, want %v", s.name, names, want)
		}
	}
}

// checkTunnels looks at each site's VXLAN device from outside: its
// properties, its bridge, its owner alias and one head-end FDB entry per
// other site of the lab.
func (f *fed) checkTunnels(t *testing.T, sites ...labSite) {
	t.Helper()
	for _, s := range sites {
		link := must(t, "ip", ipNS(s, "-d", "link", "show", tunnel)...)
		for _, want := range []string{
			"vxlan id 2020 ", "local " + s.underlay + " ", "dstport 4789 ", "nolearning",
			" master " + bridgeDev + " ", " mtu 1450 ", ",UP", "alias rensei:", "lecture/lab",
		} {
			if !strings.Contains(link, want) {
				t.Errorf("%s: %s lacks %q:\n%s", s.name, tunnel, want, link)
			}
		}
		if out := must(t, "ip", ipNS(s, "-d", "link", "show", bridgeDev)...); !strings.Contains(out, "bridge ") {
			t.Errorf("%s: %s is not a bridge:\n%s", s.name, bridgeDev, out)
		}
		var peers []string
		for _, l := range strings.Split(must(t, "bridge", ipNS(s, "fdb", "show", "dev", tunnel)...), "\n") {
			if rest, ok := strings.CutPrefix(l, "00:00:00:00:00:00 dst "); ok {
				peers = append(peers, strings.Fields(rest)[0])
			}
		}
		slices.Sort(peers)
		var want []string
		for _, o := range f.sites {
			if o.name != s.name {
				want = append(want, o.underlay)
			}
		}
		if !slices.Equal(peers, want) {
			t.Errorf("%s: head-end FDB entries of %s to %v, want %v", s.name, tunnel, peers, want)
		}
	}
}
