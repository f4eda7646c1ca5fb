package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/docker"
	"github.com/rensei-dev/rensei/drivers/netlink"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/schema"
)

// Hosts is the set of connected hosts of a topology, keyed "site/host".
type Hosts struct {
	Drivers map[string]drivers.Host
	// Scope is the deployment the drivers act for: observing keeps only
	// its objects, and nothing of another scope is changed or deleted.
	Scope   string
	closers []func() error
	// watch holds each host's watchable drivers (ConnectWatching).
	watch map[string]hostWatch
	// cache, when not nil, answers the drivers' lists (ConnectWatching).
	cache *Cache
}

// hostWatch is what can watch one host: its Docker engine and, where
// tunnels are managed, its namespace.
type hostWatch struct {
	docker  *docker.Driver
	tunnels *netlink.Tunnels
}

// CacheStats returns the counters of the hosts' cache of live state
// (zero without one): what a daemon exports as metrics. Stale counts
// relists that found the cache wrong, that is missed events.
func (h *Hosts) CacheStats() CacheStats { return h.cached().Stats() }

// Only returns want restricted to the connected hosts: a command or
// daemon limited to some hosts (--hosts) plans and applies only theirs.
func (h *Hosts) Only(want *place.Desired) *place.Desired {
	out := *want
	out.Hosts = nil
	for _, wh := range want.Hosts {
		if _, ok := h.Drivers[wh.Key]; ok {
			out.Hosts = append(out.Hosts, wh)
		}
	}
	return &out
}

// Close releases every connection.
func (h *Hosts) Close() error {
	var errs []error
	for _, c := range h.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// Connect builds the drivers of every host of the topology, or of the
// hosts named in only ("site/host" or "host") when it is not empty, acting
// for the deployment scope: they never change or delete another scope's
// objects.
// Connecting does no I/O beyond opening clients: an unreachable host shows
// up when it is probed, not here. Tunnels are managed only as root
// (netlink needs CAP_NET_ADMIN); otherwise the host's Tunnels is nil.
func Connect(topo *schema.Topology, only []string, scope string, log *slog.Logger) (*Hosts, error) {
	return connect(topo, only, scope, log, true)
}

// CheckOnly returns an error when only names a host the topology lacks
// (neither "site/host" nor a host's name), naming it and listing the known
// hosts: a typo in a host selection must not look like "No changes".
func CheckOnly(topo *schema.Topology, only []string) error {
	var known []string
	names := map[string]bool{}
	for _, s := range topo.Sites {
		for _, h := range s.Hosts {
			known = append(known, s.Name+"/"+h.Name)
			names[s.Name+"/"+h.Name], names[h.Name] = true, true
		}
	}
	var unknown []string
	for _, n := range only {
		if !names[n] {
			unknown = append(unknown, strconv.Quote(n))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	if len(known) == 0 {
		known = []string{"none"}
	}
	return fmt.Errorf("unknown host %s: known hosts are %s", strings.Join(unknown, ", "), strings.Join(known, ", "))
}

// connect is Connect; without tunnels no host's tunnels are managed.
func connect(topo *schema.Topology, only []string, scope string, log *slog.Logger, tunnels bool) (*Hosts, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := CheckOnly(topo, only); err != nil {
		return nil, err
	}
	out := &Hosts{Drivers: map[string]drivers.Host{}, Scope: scope, watch: map[string]hostWatch{}}
	for _, s := range topo.Sites {
		for _, h := range s.Hosts {
			key := s.Name + "/" + h.Name
			if len(only) > 0 && !slices.Contains(only, key) && !slices.Contains(only, h.Name) {
				continue
			}
			dh, err := connectHost(key, h, scope, log, out, tunnels)
			if err != nil {
				out.Close()
				return nil, err
			}
			out.Drivers[key] = dh
		}
	}
	return out, nil
}

func connectHost(key string, h schema.Host, scope string, log *slog.Logger, out *Hosts, tunnels bool) (drivers.Host, error) {
	var tls *docker.TLSFiles
	if h.TLS != nil {
		tls = &docker.TLSFiles{CA: h.TLS.CA, Cert: h.TLS.Cert, Key: h.TLS.Key}
	}
	d, err := docker.New(h.Docker, tls, key, log)
	if err != nil {
		return drivers.Host{}, fmt.Errorf("host %s: docker %s: %w", key, h.Docker, err)
	}
	d.Scope = scope
	out.closers = append(out.closers, d.Close)
	out.watch[key] = hostWatch{docker: d}
	dh := d.Host()
	if !tunnels || os.Geteuid() != 0 {
		return dh, nil
	}
	tun, err := netlink.New(h.Netns, key, log)
	if err != nil {
		// A missing namespace is a host that is down, not a config error.
		dh.Probe = func(context.Context) drivers.HostStatus {
			return drivers.HostStatus{Error: fmt.Sprintf("netns %q: %v", h.Netns, err)}
		}
		return dh, nil
	}
	tun.Scope = scope
	out.closers = append(out.closers, tun.Close)
	out.watch[key] = hostWatch{docker: d, tunnels: tun}
	dh.Tunnels = tun
	dockerProbe := dh.Probe
	dh.Probe = func(ctx context.Context) drivers.HostStatus {
		st := dockerProbe(ctx)
		if !st.Reachable || h.Underlay == "" {
			return st
		}
		nl := tun.Probe(ctx, h.Underlay)
		st.UnderlayFound, st.VXLAN = nl.UnderlayFound, nl.VXLAN
		if !nl.Reachable {
			st.Reachable, st.Error = false, nl.Error
		}
		return st
	}
	return dh, nil
}
