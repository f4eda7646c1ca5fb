package docker

import (
	"context"
	"fmt"
	"strconv"

	"github.com/docker/docker/api/types/network"

	"github.com/rensei-dev/rensei/drivers"
)

// Bridge driver options Rensei sets.
const (
	optBridgeName = "com.docker.network.bridge.name"
	optMTU        = "com.docker.network.driver.mtu"
)

// Networks implements drivers.Networks (bridge networks) on one engine.
type Networks struct{ d *Driver }

var _ drivers.Networks = Networks{}

// List returns the owned networks in one API call. Bridge is the Linux
// bridge's name: the bridge-name option, or the engine's default br-<id>.
func (n Networks) List(ctx context.Context) ([]drivers.Network, error) {
	list, err := n.d.cli.NetworkList(ctx, network.ListOptions{Filters: managedFilter()})
	if err != nil {
		return nil, n.d.fail("networks", "", "list", err)
	}
	out := make([]drivers.Network, 0, len(list))
	for _, s := range list {
		subnet := ""
		if len(s.IPAM.Config) > 0 {
			subnet = s.IPAM.Config[0].Subnet
		}
		out = append(out, drivers.Network{
			ID:     s.ID,
			Name:   s.Name,
			Bridge: bridgeName(s.ID, s.Options),
			Subnet: subnet,
			Labels: s.Labels,
		})
	}
	return out, nil
}

// Ensure creates the bridge network, or replaces an owned one whose spec
// hash differs. Replacing fails (and says why) while containers are still
// attached; the caller removes them first. A network of that name that
// Rensei does not own gives ErrNotOwned. Idempotent.
func (n Networks) Ensure(ctx context.Context, spec drivers.NetworkSpec) error {
	cur, found, err := n.inspect(ctx, spec.Name)
	if err != nil {
		return n.d.fail("network", spec.Name, "inspect", err)
	}
	if found {
		if !ownedInScope(cur.Labels, spec.Labels) {
			return n.d.notOwned("network", spec.Name, "ensure")
		}
		if cur.Labels[drivers.LabelSpecHash] == spec.SpecHash() {
			return nil
		}
		if err := n.d.cli.NetworkRemove(ctx, cur.ID); err != nil && !isNotFound(err) {
			return n.d.fail("network", spec.Name, "replace: remove", err)
		}
		n.d.log.Info("network removed for replacement", "kind", "network", "name", spec.Name,
			"action", "replace", "old", cur.Labels[drivers.LabelSpecHash], "new", spec.SpecHash())
	}
	resp, err := n.d.cli.NetworkCreate(ctx, spec.Name, networkOptions(spec))
	if err != nil {
		return n.d.fail("network", spec.Name, "create", err)
	}
	if resp.Warning != "" {
		n.d.log.Warn("network created with warning", "kind", "network", "name", spec.Name,
			"action", "create", "warning", resp.Warning)
	}
	n.d.log.Info("network created", "kind", "network", "name", spec.Name, "action", "create", "id", shortID(resp.ID))
	return nil
}

// Delete removes an owned network; it fails while containers are attached.
// Already gone is not an error; not owned is ErrNotOwned.
func (n Networks) Delete(ctx context.Context, name string) error {
	cur, found, err := n.inspect(ctx, name)
	if err != nil {
		return n.d.fail("network", name, "inspect", err)
	}
	if !found {
		return nil
	}
	if !n.d.ours(cur.Labels) {
		return n.d.notOwned("network", name, "delete")
	}
	if err := n.d.cli.NetworkRemove(ctx, cur.ID); err != nil && !isNotFound(err) {
		return n.d.fail("network", name, "remove", err)
	}
	n.d.log.Info("network deleted", "kind", "network", "name", name, "action", "delete")
	return nil
}

// inspect looks a network up by exact name; like containers, the engine
// also matches IDs and ID prefixes, which must not count.
func (n Networks) inspect(ctx context.Context, name string) (network.Inspect, bool, error) {
	cur, err := n.d.cli.NetworkInspect(ctx, name, network.InspectOptions{})
	switch {
	case isNotFound(err):
		return cur, false, nil
	case err != nil:
		return cur, false, err
	case cur.Name != name:
		return cur, false, nil
	}
	return cur, true, nil
}

// networkOptions is the create request of a bridge network with one IPAM
// pool: the whole subnet, this host's block of it and this host's gateway.
func networkOptions(spec drivers.NetworkSpec) network.CreateOptions {
	opts := network.CreateOptions{
		Driver:  "bridge",
		Options: map[string]string{},
		Labels:  ownedLabels(spec.Labels),
	}
	if spec.Bridge != "" {
		opts.Options[optBridgeName] = spec.Bridge
	}
	if spec.MTU > 0 {
		opts.Options[optMTU] = strconv.Itoa(spec.MTU)
	}
	if spec.Subnet != "" {
		opts.IPAM = &network.IPAM{
			Driver: "default",
			Config: []network.IPAMConfig{{
				Subnet:  spec.Subnet,
				IPRange: spec.IPRange,
				Gateway: spec.Gateway,
			}},
		}
	}
	return opts
}

// bridgeName is the Linux bridge behind a bridge network.
func bridgeName(id string, options map[string]string) string {
	if b := options[optBridgeName]; b != "" {
		return b
	}
	return fmt.Sprintf("br-%s", shortID(id))
}

var _ drivers.Names = Networks{}

// Names lists every network of the engine, Rensei's or not, with its owner,
// in one call.
func (n Networks) Names(ctx context.Context) (map[string]drivers.Owner, error) {
	list, err := n.d.cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, n.d.fail("networks", "", "list", err)
	}
	out := make(map[string]drivers.Owner, len(list))
	for _, s := range list {
		out[s.Name] = ownerOf(s.Labels)
	}
	return out, nil
}
