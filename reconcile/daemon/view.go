package daemon

import (
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/notify"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/status"
)

// Snapshot is what the daemon knows after its last pass or probe round:
// what the status page shows and /api/v1/status returns. It is built by
// the loop and never changed after; every field is plain data.
type Snapshot struct {
	Time    time.Time `json:"time"`
	Version string    `json:"version,omitempty"`
	Repo    string    `json:"repo"` // the remote, any password shown as xxxxx
	Branch  string    `json:"branch"`
	Scope   string    `json:"scope,omitempty"`
	// Commit is the config commit enforced ("" before the first good one).
	Commit string `json:"commit,omitempty"`
	// Refused is a head not applied: invalid, unsigned, or held until an
	// approval (a prune or a rewind).
	Refused  *status.Refusal `json:"refused,omitempty"`
	Ready    bool            `json:"ready"`
	NotReady string          `json:"notReady,omitempty"`
	Pass     PassView        `json:"pass"`
	Hosts    []HostView      `json:"hosts"`
	// Environments are as seen on the hosts this daemon holds.
	Environments []EnvView `json:"environments"`
	// Links are the overlay links probed from the hosts this daemon
	// holds; Networks arrange them as one matrix per overlay network.
	Links    []LinkView     `json:"links"`
	Networks []NetworkView  `json:"networks"`
	Recent   []notify.Event `json:"recent"` // newest last
	Warnings []string       `json:"warnings,omitempty"`
}

// PassView is the last pass.
type PassView struct {
	Number   int64     `json:"number"`
	Time     time.Time `json:"time,omitzero"`
	Duration float64   `json:"durationSeconds"`
	Result   string    `json:"result,omitempty"`
}

// HostView is one host.
type HostView struct {
	Key  string `json:"key"` // "site/host"
	Site string `json:"site"`
	Host string `json:"host"`
	// State is the report's (converged, drifted, failed, unreachable,
	// refused, held), or "elsewhere" for a host another daemon holds.
	State         string    `json:"state"`
	Reachable     bool      `json:"reachable"`
	EngineVersion string    `json:"engineVersion,omitempty"`
	Error         string    `json:"error,omitempty"`
	LastPass      time.Time `json:"lastPass,omitzero"`
	LastConverged time.Time `json:"lastConverged,omitzero"`
	Drift         int       `json:"drift"`     // objects found drifted in the last pass
	Remaining     int       `json:"remaining"` // still not in their desired state after it
	Applied       int       `json:"applied"`
	Failed        int       `json:"failed"`
	Instances     int       `json:"instances"` // desired
	Running       int       `json:"running"`
	LinksBroken   int       `json:"linksBroken"`
	HeldBy        string    `json:"heldBy,omitempty"` // the other daemon holding it
	HeldUntil     time.Time `json:"heldUntil,omitzero"`
}

// EnvView is one environment: its window and, per site, its instances.
type EnvView struct {
	Name      string      `json:"name"`
	State     place.State `json:"state"`
	From      time.Time   `json:"from,omitzero"`
	Until     time.Time   `json:"until,omitzero"`
	Desired   int         `json:"desired"`
	Running   int         `json:"running"`
	Remaining int         `json:"remaining"`
	Sites     []EnvSite   `json:"sites"`
}

// EnvSite is an environment on one site.
type EnvSite struct {
	Site      string   `json:"site"`
	Hosts     []string `json:"hosts"`
	State     string   `json:"state"` // ok, drifted, unreachable
	Desired   int      `json:"desired"`
	Running   int      `json:"running"`
	Remaining int      `json:"remaining"` // objects not in their desired state
}

// LinkView is one overlay link, round-trip time included.
type LinkView struct {
	Host     string    `json:"host"`
	Peer     string    `json:"peer"`
	Network  string    `json:"network"`
	State    string    `json:"state"` // ok, mtu, down, unknown (not probed yet)
	RTTms    float64   `json:"rttMs,omitempty"`
	MTU      int       `json:"mtu"`
	Since    time.Time `json:"since"`
	Checked  time.Time `json:"checked,omitzero"`
	Error    string    `json:"error,omitempty"`
	Repaired string    `json:"repaired,omitempty"`
}

// NetworkView is one overlay network's health matrix: Cells[i][j] is the
// link from Hosts[i] to Hosts[j] (nil on the diagonal and where unknown).
type NetworkView struct {
	Network string        `json:"network"`
	Hosts   []string      `json:"hosts"`
	Cells   [][]*LinkView `json:"cells"`
}

// hostSeen is what the daemon remembers of a host across passes.
type hostSeen struct {
	lastPass, lastConverged time.Time
	engine                  string
	reachable               bool
	err                     string
}

// notePass remembers what the pass saw of its hosts: for the page, the
// API and the gauges.
func (d *Daemon) notePass(want *place.Desired, out plan.Observed, remaining plan.Plan, reports []status.Report, now time.Time) {
	d.viewWant, d.viewRemaining = want, remaining
	for _, r := range reports {
		hs := d.seenHosts[r.Key()]
		if hs == nil {
			hs = &hostSeen{}
			d.seenHosts[r.Key()] = hs
		}
		hs.lastPass = now
		st, observed := out[r.Key()]
		hs.reachable = observed && st.Err == nil
		hs.err = r.Error
		if observed && st.Status.DockerVersion != "" {
			hs.engine = st.Status.DockerVersion
		}
		if r.Converged {
			hs.lastConverged = now
		}
	}
	for k := range d.seenHosts {
		if _, ok := d.lastReports[k]; !ok {
			delete(d.seenHosts, k)
		}
	}
}

// refreshView builds a new snapshot, publishes it to the page and the
// API, and sets the gauges. Called by the loop after every pass and probe
// round.
func (d *Daemon) refreshView() {
	s := &Snapshot{Time: d.cfg.Now().UTC(), Version: d.cfg.Version, Branch: d.cfg.Branch, Scope: d.cfg.Scope, Commit: d.currentSHA(),
		Warnings: d.warningList(), Hosts: []HostView{}, Environments: []EnvView{}, Links: []LinkView{}, Networks: []NetworkView{}}
	if d.cfg.Remote != nil {
		s.Repo = d.cfg.Remote.Name()
	}
	if d.refused != nil {
		r := *d.refused
		s.Refused = &r
	}
	s.NotReady = d.NotReady()
	s.Ready = s.NotReady == ""

	missing := d.missingByEnvHost()
	desired, siteOf := d.desiredCounts()
	running := func(env, host string) int {
		hs := d.seenHosts[host]
		if hs == nil || !hs.reachable {
			return 0
		}
		return max(desired[env][host]-missing[env][host], 0)
	}
	m := d.cfg.Metrics
	for _, key := range slices.Sorted(maps.Keys(d.lastReports)) {
		r, hs := d.lastReports[key], d.seenHosts[key]
		hv := HostView{Key: key, Site: r.Site, Host: r.Host, State: r.State(), Error: r.Error,
			Drift: len(r.Drift), Applied: len(r.Applied), Failed: len(r.Failed), LinksBroken: len(r.BrokenLinks())}
		if hs != nil {
			hv.Reachable, hv.EngineVersion, hv.LastPass, hv.LastConverged = hs.reachable, hs.engine, hs.lastPass, hs.lastConverged
		}
		for _, st := range d.viewRemaining.ForHost(key) {
			if st.Action.Changes() {
				hv.Remaining++
			}
		}
		for env := range desired {
			hv.Instances += desired[env][key]
			hv.Running += running(env, key)
		}
		s.Hosts = append(s.Hosts, hv)
		m.hostUp.set(b2f(hv.Reachable), r.Site, r.Host)
		m.hostConverged.set(b2f(r.Converged), r.Site, r.Host)
		m.hostDrifted.set(float64(hv.Remaining), r.Site, r.Host)
		if !hv.LastConverged.IsZero() {
			m.hostLastConverged.set(float64(hv.LastConverged.UnixMilli())/1000, r.Site, r.Host)
		}
		for env, byHost := range desired {
			if n, ok := byHost[key]; ok {
				m.instancesDesired.set(float64(n), env, r.Site, r.Host)
				m.instancesRunning.set(float64(running(env, key)), env, r.Site, r.Host)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(d.others)) {
		l := d.others[k]
		site, host := status.SplitKey(k)
		s.Hosts = append(s.Hosts, HostView{Key: k, Site: site, Host: host, State: "elsewhere", HeldBy: l.Holder.String(), HeldUntil: l.Expires})
	}
	for _, g := range []*gauges{m.hostUp, m.hostConverged, m.hostDrifted, m.hostLastConverged, m.instancesDesired, m.instancesRunning} {
		g.done()
	}

	if d.viewWant != nil {
		for _, e := range d.viewWant.Environments {
			ev := EnvView{Name: e.Name, State: e.State, From: e.From, Until: e.Until, Sites: []EnvSite{}}
			bySite := map[string]*EnvSite{}
			for host, n := range desired[e.Name] {
				if _, ours := d.lastReports[host]; !ours {
					continue
				}
				site := siteOf[host]
				es := bySite[site]
				if es == nil {
					es = &EnvSite{Site: site, State: "ok"}
					bySite[site] = es
				}
				es.Hosts = append(es.Hosts, host)
				es.Desired += n
				es.Running += running(e.Name, host)
				es.Remaining += missing[e.Name][host]
				if hs := d.seenHosts[host]; hs == nil || !hs.reachable {
					es.State = "unreachable"
				} else if es.Remaining > 0 && es.State == "ok" {
					es.State = "drifted"
				}
			}
			for _, site := range slices.Sorted(maps.Keys(bySite)) {
				es := bySite[site]
				sort.Strings(es.Hosts)
				ev.Sites = append(ev.Sites, *es)
				ev.Desired += es.Desired
				ev.Running += es.Running
				ev.Remaining += es.Remaining
			}
			s.Environments = append(s.Environments, ev)
		}
	}

	if d.links != nil {
		s.Links, s.Networks = d.linkViews()
	}

	d.mu.Lock()
	s.Pass = PassView{Number: d.passes.Load(), Time: d.lastPass.UTC(), Duration: d.lastDuration.Seconds(), Result: d.lastResult}
	if d.lastPass.IsZero() {
		s.Pass.Time = time.Time{}
	}
	s.Recent = slices.Clone(d.recent)
	if s.Recent == nil {
		s.Recent = []notify.Event{}
	}
	d.snap = s
	close(d.snapChanged)
	d.snapChanged = make(chan struct{})
	d.mu.Unlock()
}

// viewMemo is what the view is made of that changes only with the
// desired state or the links: made again only then, not on every pass.
type viewMemo struct {
	want    *place.Desired
	desired map[string]map[string]int // env → host → instances
	siteOf  map[string]string         // host → site

	linksOf  uint64 // the tracker's version the links are of
	links    []LinkView
	networks []NetworkView
}

// desiredCounts counts the instances of the desired state per environment
// and host, and names each host's site.
func (d *Daemon) desiredCounts() (desired map[string]map[string]int, siteOf map[string]string) {
	m := &d.viewMemo
	if m.desired != nil && m.want == d.viewWant {
		return m.desired, m.siteOf
	}
	desired, siteOf = map[string]map[string]int{}, map[string]string{}
	if d.viewWant != nil {
		for _, h := range d.viewWant.Hosts {
			siteOf[h.Key] = h.Site
			for _, c := range h.Containers {
				env := c.Labels[drivers.LabelEnv]
				if desired[env] == nil {
					desired[env] = map[string]int{}
				}
				desired[env][h.Key]++
			}
		}
	}
	m.want, m.desired, m.siteOf = d.viewWant, desired, siteOf
	return desired, siteOf
}

// linkViews are the links probed and their matrices. Snapshots share
// them until a link changes: a snapshot is never changed.
func (d *Daemon) linkViews() ([]LinkView, []NetworkView) {
	m := &d.viewMemo
	if v := d.links.tracker.Version(); m.links == nil || m.linksOf != v {
		links, networks := []LinkView{}, []NetworkView{}
		byNet := map[string][]LinkView{}
		for _, st := range d.links.tracker.All() {
			lv := LinkView{Host: st.Host, Peer: st.Peer, Network: st.Network, State: st.Condition(), MTU: st.MTU,
				Since: st.Since.UTC(), Checked: st.Checked.UTC(), Error: st.Error, Repaired: st.Repaired}
			if st.Checked.IsZero() && st.Error == "" {
				lv.State = "unknown"
			}
			if st.OK {
				lv.RTTms = float64(st.RTT.Microseconds()) / 1000
			}
			links = append(links, lv)
			byNet[st.Network] = append(byNet[st.Network], lv)
		}
		for _, n := range slices.Sorted(maps.Keys(byNet)) {
			networks = append(networks, matrix(n, byNet[n]))
		}
		m.linksOf, m.links, m.networks = v, links, networks
	}
	return m.links, m.networks
}

// missingByEnvHost counts, per environment and host, the containers the
// last pass left not as desired (to be created, replaced or started).
func (d *Daemon) missingByEnvHost() map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, st := range d.viewRemaining.Steps {
		if st.Kind != change.KindContainer || !st.Action.Changes() || st.Action == change.Delete {
			continue
		}
		if out[st.Env] == nil {
			out[st.Env] = map[string]int{}
		}
		out[st.Env][st.Host]++
	}
	return out
}

// matrix arranges one network's links by probing host and peer.
func matrix(network string, links []LinkView) NetworkView {
	set := map[string]bool{}
	for _, l := range links {
		set[l.Host], set[l.Peer] = true, true
	}
	nv := NetworkView{Network: network, Hosts: slices.Sorted(maps.Keys(set))}
	index := map[string]int{}
	for i, h := range nv.Hosts {
		index[h] = i
	}
	nv.Cells = make([][]*LinkView, len(nv.Hosts))
	for i := range nv.Cells {
		nv.Cells[i] = make([]*LinkView, len(nv.Hosts))
	}
	for i := range links {
		l := links[i]
		nv.Cells[index[l.Host]][index[l.Peer]] = &l
	}
	return nv
}

// Snapshot returns the latest snapshot (nil before the first pass) and a
// channel closed when a newer one is published.
func (d *Daemon) Snapshot() (*Snapshot, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.snap, d.snapChanged
}
