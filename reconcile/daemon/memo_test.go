package daemon

import (
	"context"
	"log/slog"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/netlink"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/notify"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/probe"
	"github.com/rensei-dev/rensei/reconcile/status"
)

// mapID is a map's identity.
func mapID[M ~map[K]V, K comparable, V any](m M) uintptr { return reflect.ValueOf(m).Pointer() }

// TestPinsReadOncePerObservation: the pins are read from an observation's
// lists once; the same lists again (a pass answered from the engine's
// memory) keep them, and other lists are read, even when equal.
func TestPinsReadOncePerObservation(t *testing.T) {
	container := func(name, instance string) drivers.Container {
		return drivers.Container{Name: name, Networks: map[string]string{"lan": "10.0.0.2"},
			Labels: map[string]string{drivers.LabelEnv: "cs101", drivers.LabelGroup: "ws", drivers.LabelInstance: instance}}
	}
	volume := func(instance string) drivers.Volume {
		return drivers.Volume{Name: "v-" + instance, Labels: map[string]string{drivers.LabelEnv: "cs101", drivers.LabelGroup: "ws", drivers.LabelInstance: instance}}
	}
	obs := plan.Observed{"a/h": {Containers: []drivers.Container{container("cs101_ws_ann", "ann")}, Volumes: []drivers.Volume{volume("ann")}}}
	d := &Daemon{}
	d.notePins(obs)
	if got := d.pins.Hosts[place.PinKey("cs101", "ws", "ann")]; got != "a/h" {
		t.Fatalf("pins %+v: want ann on a/h", d.pins)
	}
	first := mapID(d.pins.Hosts)
	d.notePins(obs)
	if mapID(d.pins.Hosts) != first {
		t.Error("the same observation again: pins read again")
	}
	moved := plan.Observed{"b/h": {Containers: []drivers.Container{container("cs101_ws_ann", "ann")}, Volumes: []drivers.Volume{volume("ann")}}}
	d.notePins(moved)
	if got := d.pins.Hosts[place.PinKey("cs101", "ws", "ann")]; got != "b/h" {
		t.Errorf("a new observation: ann pinned to %q, want b/h", got)
	}
	kept := mapID(d.pins.Hosts)
	equal := plan.Observed{"b/h": {Containers: slices.Clone(moved["b/h"].Containers), Volumes: slices.Clone(moved["b/h"].Volumes)}}
	d.notePins(equal)
	if !reflect.DeepEqual(d.pins, engine.PinsOf(moved)) || mapID(d.pins.Hosts) == kept {
		t.Error("equal but other lists: pins not read from them")
	}
	d.notePins(nil)
	if len(d.pins.Hosts) != 0 {
		t.Errorf("no observation: pins %+v", d.pins)
	}
}

// countingPinger answers every echo after 100µs and counts them.
type countingPinger struct{ sent atomic.Int64 }

func (p *countingPinger) Ping(context.Context, netlink.Echo) (time.Duration, error) {
	p.sent.Add(1)
	return 100 * time.Microsecond, nil
}

// linkWant is two hosts sharing one overlay network (VNI 7).
func linkWant(gatewayB string) *place.Desired {
	host := func(key, site, gw, local, peer string) place.Host {
		return place.Host{Key: key, Site: site,
			Networks: []drivers.NetworkSpec{{Name: "cs101_lan", Bridge: place.BridgeName(7), Gateway: gw, MTU: 1450,
				Labels: map[string]string{drivers.LabelEnv: "cs101", drivers.LabelNetwork: "lan"}}},
			Tunnels: []drivers.TunnelSpec{{Name: place.TunnelName(7), VNI: 7, Local: local, Bridge: place.BridgeName(7), MTU: 1450, Peers: []string{peer}}}}
	}
	return &place.Desired{Hosts: []place.Host{
		host("site-a/docker", "site-a", "198.19.7.1", "198.18.0.1", "198.18.0.2"),
		host("site-b/docker", "site-b", gatewayB, "198.18.0.2", "198.18.0.1"),
	}}
}

// linkObs is an observation of both hosts' tunnels, site-a's with or
// without its FDB entry to site-b.
func linkObs(fdb bool) plan.Observed {
	tunnel := func(peer string) drivers.Tunnel {
		return drivers.Tunnel{Name: place.TunnelName(7), Bridge: place.BridgeName(7), MTU: 1450, Up: true, Peers: []string{peer}}
	}
	a := tunnel("198.18.0.2")
	if !fdb {
		a.Peers = nil
	}
	return plan.Observed{"site-a/docker": {Tunnels: []drivers.Tunnel{a}}, "site-b/docker": {Tunnels: []drivers.Tunnel{tunnel("198.18.0.1")}}}
}

// TestProbeLinksMemo: probing's bookkeeping is kept across passes with
// the same desired state, hosts and observation, and made again when one
// changes; what a pass finds and tells is what it found before the memo:
// the targets are those of the desired state, a fault in a new
// observation is found and probed, a new desired state is probed.
func TestProbeLinksMemo(t *testing.T) {
	ctx := context.Background()
	d := &Daemon{cfg: Config{Metrics: NewMetrics(nil)}, log: slog.New(slog.DiscardHandler), links: newLinks(LinkOptions{Interval: time.Hour})}
	pa, pb := &countingPinger{}, &countingPinger{}
	d.conn = &connection{pingers: map[string]probe.Pinger{"site-a/docker": pa, "site-b/docker": pb}}
	hosts := &engine.Hosts{Drivers: map[string]drivers.Host{"site-a/docker": {}, "site-b/docker": {}}}
	now := time.Date(2027, 4, 1, 9, 0, 0, 0, time.UTC)
	sent := func() int64 { return pa.sent.Load() + pb.sent.Load() }
	checkTargets := func(want *place.Desired) {
		t.Helper()
		if fresh := probe.Targets(want, nil); !slices.Equal(fresh, d.links.targets) {
			t.Errorf("targets kept %+v, want %+v", d.links.targets, fresh)
		}
	}

	want, obs := linkWant("198.19.7.33"), linkObs(true)
	d.probeLinks(ctx, want, hosts, engine.Outcome{Observed: obs}, false, now)
	checkTargets(want)
	if sent() == 0 {
		t.Fatal("new links not probed")
	}
	targets, version, probed := d.links.targets, d.links.tracker.Version(), sent()

	// The same pass again (answered from memory): nothing made again, nothing probed.
	for range 3 {
		if ev := d.probeLinks(ctx, want, hosts, engine.Outcome{Observed: obs}, false, now); len(ev) != 0 {
			t.Errorf("idle pass told %v", ev)
		}
	}
	if &d.links.targets[0] != &targets[0] || d.links.tracker.Version() != version || sent() != probed {
		t.Error("an idle pass made the targets again, changed the tracker or probed")
	}
	reports := d.linkReport("site-a/docker")
	if len(reports) != 1 || !reports[0].Healthy() {
		t.Fatalf("site-a's links: %+v", reports)
	}
	if again := d.linkReport("site-a/docker"); &again[0] != &reports[0] {
		t.Error("the links' report made again while no link changed")
	}

	// A new observation with site-a's FDB entry gone: found, told, probed.
	broken := linkObs(false)
	ev := d.probeLinks(ctx, want, hosts, engine.Outcome{Observed: broken}, false, now)
	if len(ev) != 1 || ev[0].Kind != notify.LinkUp || ev[0].Host != "site-a/docker" {
		t.Errorf("a fault in the observation, repaired by the probe's time: events %+v, want one link repaired", ev)
	}
	if sent() == probed {
		t.Error("a fault found, no probe")
	}
	if r := d.linkReport("site-a/docker"); len(r) != 1 || r[0].Repaired == "" {
		t.Errorf("site-a's links after the repair: %+v", r)
	}

	// The same observation with a fault again: found again, as before.
	probed = sent()
	if ev := d.probeLinks(ctx, want, hosts, engine.Outcome{Observed: broken}, false, now); len(ev) == 0 || sent() == probed {
		t.Errorf("the same fault again: events %+v, probes %d", ev, sent()-probed)
	}

	// A new desired state (site-b's gateway moved): new targets, probed.
	moved := linkWant("198.19.7.34")
	probed = sent()
	d.probeLinks(ctx, moved, hosts, engine.Outcome{Observed: obs}, false, now)
	checkTargets(moved)
	if sent() == probed {
		t.Error("changed links not probed")
	}

	// site-b no longer held: its links are no longer probed.
	only := &engine.Hosts{Drivers: map[string]drivers.Host{"site-a/docker": {}}}
	d.probeLinks(ctx, moved, only, engine.Outcome{Observed: obs}, false, now)
	if n := len(d.links.targets); n != 1 || d.links.targets[0].Host != "site-a/docker" {
		t.Errorf("targets with site-a alone held: %+v", d.links.targets)
	}
	if r := d.linkReport("site-b/docker"); len(r) != 0 {
		t.Errorf("site-b's links still reported: %+v", r)
	}
}

// TestViewFollowsChanges: the parts of the view kept across passes (the
// desired counts, the links) follow a new desired state and a link that
// changed.
func TestViewFollowsChanges(t *testing.T) {
	d := viewDaemon(t)
	snap, _ := d.Snapshot()
	if snap.Hosts[0].Instances != 2 || snap.Links[0].State != "mtu" {
		t.Fatalf("first view: %d instances on %s, link %s", snap.Hosts[0].Instances, snap.Hosts[0].Key, snap.Links[0].State)
	}
	d.refreshView()
	same, _ := d.Snapshot()
	if &same.Links[0] != &snap.Links[0] {
		t.Error("links' view made again while no link changed")
	}
	now := d.cfg.Now()
	want := &place.Desired{Environments: d.viewWant.Environments, Hosts: []place.Host{
		{Key: "site-a/docker", Site: "site-a", Containers: containers("cs101", 5)},
		{Key: "site-b/docker", Site: "site-b", Containers: containers("cs101", 1)},
	}}
	var reports []status.Report
	for _, k := range []string{"site-a/docker", "site-b/docker"} {
		reports = append(reports, d.lastReports[k])
	}
	d.notePass(want, plan.Observed{"site-a/docker": {}}, plan.Plan{}, reports, now)
	d.links.tracker.Update([]probe.Result{{Link: probe.Link{Host: "site-a/docker", Peer: "site-b/docker", Network: "cs101/lan", MTU: 1450}, OK: true, MTUOK: true, At: now}}, now)
	d.refreshView()
	snap, _ = d.Snapshot()
	if snap.Hosts[0].Instances != 5 || snap.Environments[0].Desired != 6 {
		t.Errorf("a new desired state: %d instances on %s, %d in cs101; want 5, 6", snap.Hosts[0].Instances, snap.Hosts[0].Key, snap.Environments[0].Desired)
	}
	if snap.Links[0].State != "ok" || snap.Networks[0].Cells[0][1].State != "ok" {
		t.Errorf("a link repaired: view says %s", snap.Links[0].State)
	}
}
