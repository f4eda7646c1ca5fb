package fakeengine

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
)

// Bridge driver option keys the fake reads.
const (
	optBridgeName = "com.docker.network.bridge.name"
	optMTU        = "com.docker.network.driver.mtu"
)

// netw is one network of the model.
type netw struct {
	id, name   string
	driver     string // "bridge", "host" or "null"
	created    time.Time
	predefined bool
	bridge     string // the Linux bridge's name (bridge driver only)
	internal   bool
	attachable bool
	options    map[string]string
	labels     map[string]string
	ipamDriver string
	ipamOpts   map[string]string
	ipamConfig []network.IPAMConfig // as reported by inspect
	pool       *pool                // nil for host and none
	active     map[string]*endpoint // container ID → endpoint of a running container
}

// addPredefinedNetworks creates bridge (172.17.0.0/16 on docker0), host
// and none, as a fresh dockerd has them.
func (e *Engine) addPredefinedNetworks() {
	now := time.Now()
	bp, _ := e.newPool("172.17.0.0/16", "", "172.17.0.1")
	bp.static = false // not user-configured: static addresses are refused
	for _, n := range []*netw{
		{name: "bridge", driver: "bridge", bridge: "docker0", pool: bp, options: map[string]string{
			"com.docker.network.bridge.default_bridge":       "true",
			"com.docker.network.bridge.enable_icc":           "true",
			"com.docker.network.bridge.enable_ip_masquerade": "true",
			"com.docker.network.bridge.host_binding_ipv4":    "0.0.0.0",
			optBridgeName: "docker0",
			optMTU:        "1500",
		}, ipamConfig: []network.IPAMConfig{{Subnet: "172.17.0.0/16", Gateway: "172.17.0.1"}}},
		{name: "host", driver: "host"},
		{name: "none", driver: "null"},
	} {
		n.id, n.created, n.predefined, n.ipamDriver = newID(), now, true, "default"
		n.labels, n.active = map[string]string{}, map[string]*endpoint{}
		if n.options == nil {
			n.options = map[string]string{}
		}
		e.networks[n.id] = n
		e.netNames[n.name] = n.id
	}
}

// findNetwork resolves a network as dockerd does: full ID, then full name,
// then a unique ID prefix. e.mu must be held. Not found is 404
// "network X not found"; an ambiguous prefix is 400.
func (e *Engine) findNetwork(term string) (*netw, error) {
	if n, ok := e.networks[term]; ok {
		return n, nil
	}
	if id, ok := e.netNames[term]; ok {
		return e.networks[id], nil
	}
	var hit *netw
	count := 0
	if term != "" {
		for id, n := range e.networks {
			if strings.HasPrefix(id, term) {
				hit = n
				count++
			}
		}
	}
	switch count {
	case 0:
		return nil, errNotFound("network %s not found", term)
	case 1:
		return hit, nil
	}
	return nil, errInvalid("network %s is ambiguous (%d matches found based on ID prefix)", term, count)
}

// networkCreate serves POST /networks/create. The checks run in dockerd's
// order: predefined name (403), IPAM config (400), name in use (409), pool
// overlap (403), bridge name in use (403). Only the bridge driver and the
// first IPv4 IPAM config are modelled.
func (e *Engine) networkCreate(w http.ResponseWriter, r *http.Request, _ string) error {
	var req network.CreateRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	switch req.Name {
	case "":
		return errInvalid("network name must not be empty")
	case "bridge", "host", "none", "default":
		return errForbidden("operation is not permitted on predefined %s network ", req.Name)
	}
	driver := req.Driver
	if driver == "" {
		driver = "bridge"
	}
	if driver != "bridge" {
		return errNotFound("plugin %q not found", driver)
	}
	ipv6 := req.EnableIPv6 != nil && *req.EnableIPv6
	if err := network.ValidateIPAM(req.IPAM, ipv6); err != nil {
		return errInvalid("%v", err)
	}
	var cfg network.IPAMConfig
	ipamDriver, ipamOpts := "default", map[string]string(nil)
	if req.IPAM != nil {
		if req.IPAM.Driver != "" {
			ipamDriver = req.IPAM.Driver
		}
		ipamOpts = req.IPAM.Options
		for _, c := range req.IPAM.Config {
			if !strings.Contains(c.Subnet, ":") {
				cfg = c
				break
			}
		}
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if _, taken := e.netNames[req.Name]; taken {
		return errConflict("network with name %s already exists", req.Name)
	}
	p, err := e.newPool(cfg.Subnet, cfg.IPRange, cfg.Gateway)
	if err != nil {
		return err
	}
	n := &netw{
		id: newID(), name: req.Name, driver: driver, created: time.Now(),
		internal: req.Internal, attachable: req.Attachable,
		options: maps.Clone(req.Options), labels: maps.Clone(req.Labels),
		ipamDriver: ipamDriver, ipamOpts: maps.Clone(ipamOpts), pool: p, active: map[string]*endpoint{},
	}
	if n.options == nil {
		n.options = map[string]string{}
	}
	if n.labels == nil {
		n.labels = map[string]string{}
	}
	n.bridge = n.options[optBridgeName]
	if n.bridge == "" {
		n.bridge = "br-" + shortID(n.id)
	}
	for _, o := range e.networks {
		if o.driver == "bridge" && o.bridge == n.bridge {
			return errForbidden("cannot create network %s (%s): conflicts with network %s (%s): networks have same bridge name",
				n.id, n.bridge, o.id, o.bridge)
		}
	}
	cfg.Subnet, cfg.Gateway = p.subnet.String(), p.gateway.String()
	n.ipamConfig = []network.IPAMConfig{cfg}
	e.networks[n.id] = n
	e.netNames[n.name] = n.id
	e.emit(events.NetworkEventType, events.ActionCreate, n.id, map[string]string{"name": n.name, "type": n.driver})
	writeJSON(w, http.StatusCreated, network.CreateResponse{ID: n.id})
	return nil
}

// networkInspect serves GET /networks/{id}: active endpoints appear under
// Containers, keyed by container ID.
func (e *Engine) networkInspect(w http.ResponseWriter, _ *http.Request, term string) error {
	e.mu.Lock()
	n, err := e.findNetwork(term)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	out := e.networkJSON(n, true)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
	return nil
}

// networkList serves GET /networks with the filters dangling, driver, id,
// label, name, scope and type; Containers is empty, as dockerd's list.
func (e *Engine) networkList(w http.ResponseWriter, r *http.Request, _ string) error {
	f, err := filters.FromJSON(r.URL.Query().Get("filters"))
	if err != nil {
		return errInvalid("%v", err)
	}
	if err := network.ValidateFilters(f); err != nil {
		return errInvalid("%v", err)
	}
	names := newMatcher(f, "name")
	ids := newMatcher(f, "id")
	e.mu.Lock()
	out := []network.Summary{}
	for _, n := range e.networks {
		if !names.match(n.name) || !ids.match(n.id) || !f.MatchKVList("label", n.labels) ||
			!f.ExactMatch("driver", n.driver) || !f.ExactMatch("scope", "local") {
			continue
		}
		if f.Contains("type") && !(f.ExactMatch("type", "builtin") && n.predefined || f.ExactMatch("type", "custom") && !n.predefined) {
			continue
		}
		if f.Contains("dangling") {
			dangling, _ := f.GetBoolOrDefault("dangling", false)
			if dangling == (e.networkInUse(n) || n.predefined) {
				continue
			}
		}
		out = append(out, e.networkJSON(n, false))
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b network.Summary) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, out)
	return nil
}

// networkInUse reports whether any container refers to n.
func (e *Engine) networkInUse(n *netw) bool {
	for _, c := range e.containers {
		if _, ok := c.eps[n.name]; ok {
			return true
		}
	}
	return false
}

// networkRemove serves DELETE /networks/{id}. It refuses the predefined
// networks and, with dockerd's 403 "has active endpoints", a network that
// running containers are attached to. A created (not running) container
// attached to it does not hold it, as in dockerd: that container's start
// then fails.
func (e *Engine) networkRemove(w http.ResponseWriter, _ *http.Request, term string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err := e.findNetwork(term)
	if err != nil {
		return err
	}
	if n.predefined {
		return errForbidden("%s is a pre-defined network and cannot be removed", n.name)
	}
	if len(n.active) > 0 {
		var eps []string
		for cid, ep := range n.active {
			eps = append(eps, fmt.Sprintf("name:%q id:%q", e.containers[cid].name, shortID(ep.id)))
		}
		slices.Sort(eps)
		return errForbidden("error while removing network: network %s has active endpoints (%s)", n.name, strings.Join(eps, ", "))
	}
	delete(e.networks, n.id)
	delete(e.netNames, n.name)
	e.emit(events.NetworkEventType, events.ActionDestroy, n.id, map[string]string{"name": n.name, "type": n.driver})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// networkJSON renders n; e.mu must be held.
func (e *Engine) networkJSON(n *netw, detailed bool) network.Inspect {
	out := network.Inspect{
		Name: n.name, ID: n.id, Created: n.created, Scope: "local", Driver: n.driver,
		EnableIPv4: true, Internal: n.internal, Attachable: n.attachable,
		IPAM:       network.IPAM{Driver: n.ipamDriver, Options: maps.Clone(n.ipamOpts), Config: slices.Clone(n.ipamConfig)},
		Containers: map[string]network.EndpointResource{},
		Options:    maps.Clone(n.options),
		Labels:     maps.Clone(n.labels),
	}
	if out.IPAM.Config == nil {
		out.IPAM.Config = []network.IPAMConfig{}
	}
	if detailed {
		for cid, ep := range n.active {
			res := network.EndpointResource{Name: e.containers[cid].name, EndpointID: ep.id, MacAddress: ep.mac}
			if ep.ip.IsValid() {
				res.IPv4Address = fmt.Sprintf("%s/%d", ep.ip, n.pool.subnet.Bits())
			}
			out.Containers[cid] = res
		}
	}
	return out
}
