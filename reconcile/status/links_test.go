package status

import (
	"strings"
	"testing"
	"time"
)

// TestReportLinks: a report's links are part of its content (a link that
// breaks or comes back is a new commit) but their Since is not (a daemon
// restarted on a healthy overlay commits nothing); a broken link makes
// the host drifted; a repair stays the record until something new happens.
func TestReportLinks(t *testing.T) {
	t0 := time.Date(2027, 4, 1, 9, 0, 0, 0, time.UTC)
	link := func(peer string, ok, mtu bool, since time.Time) Link {
		l := Link{Peer: peer, Network: "course/lan", OK: ok, MTUOK: mtu, MTU: 1450, Since: since}
		if !ok || !mtu {
			l.Error = "a full-size packet (1450 bytes, don't fragment) does not pass"
		}
		return l
	}
	base := Report{Host: "docker", Site: "site-a", Commit: "c1", Time: t0, Converged: true}
	healthy := base
	healthy.Links = []Link{link("site-b/docker", true, true, t0), link("site-c/docker", true, true, t0)}

	restarted := healthy
	restarted.Time = t0.Add(time.Hour)
	restarted.Links = []Link{link("site-b/docker", true, true, t0.Add(time.Hour)), link("site-c/docker", true, true, t0.Add(time.Hour))}
	if !restarted.Same(healthy) || restarted.Supersedes(&healthy) {
		t.Error("the same links seen later (a restart) are a new report")
	}
	if healthy.State() != "converged" || !healthy.Clean() {
		t.Errorf("healthy: state %s, clean %v", healthy.State(), healthy.Clean())
	}

	broken := healthy
	broken.Links = []Link{link("site-b/docker", true, false, t0.Add(time.Minute)), link("site-c/docker", true, true, t0)}
	if !broken.Supersedes(&healthy) {
		t.Error("a link that broke is not a new report")
	}
	if broken.State() != "drifted" || broken.Clean() || len(broken.BrokenLinks()) != 1 {
		t.Errorf("broken: state %s, clean %v, broken %v", broken.State(), broken.Clean(), broken.BrokenLinks())
	}
	if s := broken.Summary(); !strings.Contains(s, "1 link(s) broken") {
		t.Errorf("summary: %s", s)
	}
	if txt := broken.Text(); !strings.Contains(txt, "  mtu site-b/docker (course/lan): a full-size packet") ||
		!strings.Contains(txt, "  ok site-c/docker (course/lan)\n") {
		t.Errorf("text:\n%s", txt)
	}
	if !healthy.Supersedes(&broken) {
		t.Error("a link that came back is not a new report")
	}

	repaired := healthy
	repaired.Links = []Link{link("site-b/docker", true, true, t0), link("site-c/docker", true, true, t0)}
	repaired.Links[0].Repaired = "FDB entry to 198.18.0.2 missing on rs-vx-7"
	if !repaired.Supersedes(&healthy) || repaired.Clean() {
		t.Error("a repaired link is not a new report")
	}
	if healthy.Supersedes(&repaired) {
		t.Error("a clean pass after a repair replaced the repair as the record")
	}
	gone := base
	if !gone.Supersedes(&healthy) {
		t.Error("links gone (the network left the host) is not a new report")
	}
}
