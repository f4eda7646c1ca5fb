package fakeengine

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
)

// endpoint is a container's attachment to one network: the settings asked
// for at create or connect, and, while the container runs, the live
// endpoint (ID, address, MAC) that holds an address of the network's pool.
type endpoint struct {
	cfg network.EndpointSettings // requested: IPAMConfig, Aliases, Links, DriverOpts, MacAddress

	netID string // set while active
	id    string
	ip    netip.Addr
	mac   string
}

func (ep *endpoint) active() bool { return ep.id != "" }

// staticIPv4 is the requested static address, if any.
func (ep *endpoint) staticIPv4() netip.Addr {
	if ep.cfg.IPAMConfig == nil {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(ep.cfg.IPAMConfig.IPv4Address)
	return a
}

// validateEndpoint checks endpoint settings for the network named name (n
// is nil when no such network exists yet), with dockerd's messages: the
// address must parse, and lie in a user-configured subnet of n.
func validateEndpoint(n *netw, name string, cfg *network.EndpointSettings) error {
	ipam := cfg.IPAMConfig
	if ipam == nil {
		ipam = &network.EndpointIPAMConfig{}
	}
	var errs []string
	if !container.NetworkMode(name).IsUserDefined() {
		if ipam.IPv4Address != "" || ipam.IPv6Address != "" {
			errs = append(errs, "user specified IP address is supported on user defined networks only")
		}
		if len(cfg.Aliases) > 0 {
			errs = append(errs, "network-scoped alias is supported only for containers in user defined networks")
		}
	}
	if err := ipam.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if n != nil && n.pool != nil {
		if err := ipam.IsInRange([]network.NetworkSubnet{n.pool}, nil); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) == 0 {
		return nil
	}
	if len(errs) > 1 {
		return errInvalid("invalid endpoint settings:\n* %s", strings.Join(errs, "\n* "))
	}
	return errInvalid("invalid endpoint settings:\n%s", errs[0])
}

// activate creates the live endpoint of c on the network key names: it
// resolves the network (404 "network X not found"), allocates the static or
// a dynamic address, and emits the network's connect event. e.mu must be
// held. It returns the network's name, the key the endpoint is kept under.
func (e *Engine) activate(c *ctr, key string, ep *endpoint) (string, error) {
	n, err := e.findNetwork(key)
	if err != nil {
		return "", err
	}
	if _, dup := n.active[c.id]; dup {
		return "", errForbidden("endpoint with name %s already exists in network %s", c.name, n.name)
	}
	var ip netip.Addr
	if n.pool != nil {
		if ip, err = n.pool.allocate(ep.staticIPv4(), c.id, n.name, n.id); err != nil {
			return "", err
		}
	}
	ep.netID, ep.id, ep.ip = n.id, newID(), ip
	ep.mac = ""
	if ip.IsValid() {
		b := ip.As4()
		ep.mac = fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
	}
	n.active[c.id] = ep
	e.emit(events.NetworkEventType, events.ActionConnect, n.id,
		map[string]string{"container": c.id, "name": n.name, "type": n.driver})
	return n.name, nil
}

// deactivate removes the live endpoint, frees its address and emits the
// network's disconnect event. e.mu must be held.
func (e *Engine) deactivate(c *ctr, ep *endpoint) {
	if !ep.active() {
		return
	}
	if n, ok := e.networks[ep.netID]; ok {
		if n.pool != nil && ep.ip.IsValid() {
			n.pool.release(ep.ip, c.id)
		}
		delete(n.active, c.id)
		e.emit(events.NetworkEventType, events.ActionDisconnect, n.id,
			map[string]string{"container": c.id, "name": n.name, "type": n.driver})
	}
	ep.netID, ep.id, ep.ip, ep.mac = "", "", netip.Addr{}, ""
}

// networkConnect serves POST /networks/{id}/connect. For a container that
// is not running it only records the settings (an unknown network is
// recorded too and fails at start, as in dockerd; connecting again to the
// same network changes nothing). For a running one it attaches at once,
// with the address checks of start.
func (e *Engine) networkConnect(w http.ResponseWriter, r *http.Request, term string) error {
	var req network.ConnectOptions
	if err := readJSON(r, &req); err != nil {
		return err
	}
	cfg := network.EndpointSettings{}
	if req.EndpointConfig != nil {
		cfg = *req.EndpointConfig
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(req.Container)
	if err != nil {
		return err
	}
	if c.st.status == container.StateRemoving || c.st.status == container.StateDead {
		return errSystem("Container %s is marked for removal and cannot be connected or disconnected to the network", c.id)
	}
	n, nerr := e.findNetwork(term)
	if n != nil && n.driver == "host" && !c.host.networkMode.IsHost() {
		return errInvalid("cannot connect container to host network - container must be created in host network mode")
	}
	if !c.running() {
		if nerr != nil {
			c.eps[term] = &endpoint{cfg: cfg}
			writeOK(w)
			return nil
		}
		for key := range c.eps {
			if o, err := e.findNetwork(key); err == nil && o == n {
				writeOK(w)
				return nil
			}
		}
		if err := validateEndpoint(n, n.name, &cfg); err != nil {
			return err
		}
		c.eps[n.name] = &endpoint{cfg: cfg}
		writeOK(w)
		return nil
	}
	if nerr != nil {
		return nerr
	}
	if _, dup := n.active[c.id]; dup {
		return errForbidden("endpoint with name %s already exists in network %s", c.name, n.name)
	}
	if err := validateEndpoint(n, n.name, &cfg); err != nil {
		return err
	}
	ep := &endpoint{cfg: cfg}
	if _, err := e.activate(c, n.name, ep); err != nil {
		return err
	}
	c.eps[n.name] = ep
	writeOK(w)
	return nil
}

// networkDisconnect serves POST /networks/{id}/disconnect.
func (e *Engine) networkDisconnect(w http.ResponseWriter, r *http.Request, term string) error {
	var req network.DisconnectOptions
	if err := readJSON(r, &req); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(req.Container)
	if err != nil {
		return err
	}
	n, nerr := e.findNetwork(term)
	if !c.running() || (nerr != nil && req.Force) {
		key := term
		if n != nil {
			key = n.name
		}
		if _, ok := c.eps[key]; !ok {
			return errSystem("container %s is not connected to the network %s", c.id, key)
		}
		delete(c.eps, key)
		writeOK(w)
		return nil
	}
	if nerr != nil {
		return nerr
	}
	if n.driver == "host" && c.host.networkMode.IsHost() {
		return errInvalid("cannot disconnect container from host network - container was created in host network mode")
	}
	ep, ok := n.active[c.id]
	if !ok {
		return errSystem("container %s is not connected to network %s", c.id, n.name)
	}
	e.deactivate(c, ep)
	delete(c.eps, n.name)
	writeOK(w)
	return nil
}

// writeOK sends an empty 200.
func writeOK(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) }
