package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/netlink"
)

// The wrappers. List answers from the cache; Ensure and Delete tell it
// before and after: before, so no list taken during the change is kept,
// after, so the next list sees its effect. A network change also touches
// containers (their networks) and tunnels (a removed bridge frees its
// VXLAN device).

func (hc *hostCache) around(what Change, f func() error) error {
	hc.invalidate(what)
	defer hc.invalidate(what)
	return f()
}

func cachedList[T any](hc *hostCache, k int, list func() ([]T, error)) ([]T, error) {
	v, err := hc.get(k, func() (any, error) { return list() })
	if err != nil {
		return nil, err
	}
	// Callers may keep or change what they get; the cache keeps its own.
	return slices.Clone(v.([]T)), nil
}

type cachedContainers struct {
	drivers.Containers
	hc *hostCache
}

func (w cachedContainers) List(ctx context.Context) ([]drivers.Container, error) {
	w.hc.refresh(ctx)
	return cachedList(w.hc, kContainers, func() ([]drivers.Container, error) { return w.Containers.List(ctx) })
}

// Ensure and Delete change one container: only it is taken again.
func (w cachedContainers) Ensure(ctx context.Context, s drivers.ContainerSpec) error {
	return w.hc.aroundContainer(s.Name, func() error { return w.Containers.Ensure(ctx, s) })
}

func (w cachedContainers) Delete(ctx context.Context, name string) error {
	return w.hc.aroundContainer(name, func() error { return w.Containers.Delete(ctx, name) })
}

func (hc *hostCache) aroundContainer(name string, f func() error) error {
	hc.invalidateContainers(nil, []string{name})
	defer hc.invalidateContainers(nil, []string{name})
	return f()
}

type cachedNetworks struct {
	drivers.Networks
	hc *hostCache
}

const networkChange = NetworksChanged | ContainersChanged | TunnelsChanged

func (w cachedNetworks) List(ctx context.Context) ([]drivers.Network, error) {
	return cachedList(w.hc, kNetworks, func() ([]drivers.Network, error) { return w.Networks.List(ctx) })
}

func (w cachedNetworks) Ensure(ctx context.Context, s drivers.NetworkSpec) error {
	return w.hc.around(networkChange, func() error { return w.Networks.Ensure(ctx, s) })
}

func (w cachedNetworks) Delete(ctx context.Context, name string) error {
	return w.hc.around(networkChange, func() error { return w.Networks.Delete(ctx, name) })
}

// Names is not cached (it is asked only when something is missing); a
// driver without it knows of no foreign name.
func (w cachedNetworks) Names(ctx context.Context) (map[string]drivers.Owner, error) {
	if n, ok := w.Networks.(drivers.Names); ok {
		return n.Names(ctx)
	}
	return nil, nil
}

type cachedVolumes struct {
	drivers.Volumes
	hc *hostCache
}

func (w cachedVolumes) List(ctx context.Context) ([]drivers.Volume, error) {
	return cachedList(w.hc, kVolumes, func() ([]drivers.Volume, error) { return w.Volumes.List(ctx) })
}

func (w cachedVolumes) Ensure(ctx context.Context, s drivers.VolumeSpec) error {
	return w.hc.around(VolumesChanged, func() error { return w.Volumes.Ensure(ctx, s) })
}

func (w cachedVolumes) Delete(ctx context.Context, name string) error {
	return w.hc.around(VolumesChanged, func() error { return w.Volumes.Delete(ctx, name) })
}

func (w cachedVolumes) Names(ctx context.Context) (map[string]drivers.Owner, error) {
	if n, ok := w.Volumes.(drivers.Names); ok {
		return n.Names(ctx)
	}
	return nil, nil
}

func (w cachedVolumes) MountedBy(ctx context.Context) (map[string][]string, error) {
	if m, ok := w.Volumes.(drivers.VolumeMounts); ok {
		return m.MountedBy(ctx)
	}
	return nil, fmt.Errorf("host %s: its driver cannot tell which containers mount a volume", w.hc.key)
}

type cachedTunnels struct {
	drivers.Tunnels
	hc *hostCache
}

func (w cachedTunnels) List(ctx context.Context) ([]drivers.Tunnel, error) {
	return cachedList(w.hc, kTunnels, func() ([]drivers.Tunnel, error) { return w.Tunnels.List(ctx) })
}

func (w cachedTunnels) Ensure(ctx context.Context, s drivers.TunnelSpec) error {
	return w.hc.around(TunnelsChanged, func() error { return w.Tunnels.Ensure(ctx, s) })
}

func (w cachedTunnels) Delete(ctx context.Context, name string) error {
	return w.hc.around(TunnelsChanged, func() error { return w.Tunnels.Delete(ctx, name) })
}

// The tunnel drivers' optional methods are kept: a batch delete (apply
// uses it) and a ping (overlay probing uses it).

type pinger interface {
	Ping(ctx context.Context, e netlink.Echo) (time.Duration, error)
}

func wrapTunnels(t drivers.Tunnels, hc *hostCache) drivers.Tunnels {
	w := cachedTunnels{t, hc}
	_, bulk := t.(drivers.TunnelBulkDeleter)
	_, ping := t.(pinger)
	switch {
	case bulk && ping:
		return bulkPingTunnels{bulkTunnels{w}}
	case bulk:
		return bulkTunnels{w}
	case ping:
		return pingTunnels{w}
	}
	return w
}

type bulkTunnels struct{ cachedTunnels }

func (w bulkTunnels) DeleteMany(ctx context.Context, names []string) error {
	return w.hc.around(TunnelsChanged, func() error { return w.Tunnels.(drivers.TunnelBulkDeleter).DeleteMany(ctx, names) })
}

type pingTunnels struct{ cachedTunnels }

func (w pingTunnels) Ping(ctx context.Context, e netlink.Echo) (time.Duration, error) {
	return w.Tunnels.(pinger).Ping(ctx, e)
}

type bulkPingTunnels struct{ bulkTunnels }

func (w bulkPingTunnels) Ping(ctx context.Context, e netlink.Echo) (time.Duration, error) {
	return w.Tunnels.(pinger).Ping(ctx, e)
}
