package docker

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/network"
	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/drivers"
)

func TestNetworkEnsure(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	nets := h.d.Networks()
	subnet, o := h.subnet()
	spec := drivers.NetworkSpec{
		Name:    h.name("lan"),
		Bridge:  h.prefix + "b",
		Subnet:  subnet,
		IPRange: fmt.Sprintf("198.19.%d.64/26", o),
		Gateway: fmt.Sprintf("198.19.%d.65", o),
		MTU:     1450,
		Labels:  labels("n1"),
	}
	if err := nets.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	first, err := h.cli.NetworkInspect(ctx, spec.Name, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantOpts := map[string]string{optBridgeName: spec.Bridge, optMTU: "1450"}
	if diff := cmp.Diff(wantOpts, first.Options); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
	wantIPAM := []network.IPAMConfig{{Subnet: spec.Subnet, IPRange: spec.IPRange, Gateway: spec.Gateway}}
	if diff := cmp.Diff(wantIPAM, first.IPAM.Config); diff != "" {
		t.Errorf("IPAM (-want +got):\n%s", diff)
	}

	if err := nets.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	list, err := nets.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []drivers.Network{{ID: first.ID, Name: spec.Name, Bridge: spec.Bridge, Subnet: spec.Subnet, Labels: spec.Labels}}
	mine := slices.DeleteFunc(list, func(n drivers.Network) bool { return !strings.HasPrefix(n.Name, h.prefix) })
	if diff := cmp.Diff(want, mine); diff != "" {
		t.Errorf("List after a second Ensure (-want +got):\n%s", diff)
	}

	spec.Labels = labels("n2")
	spec.MTU = 1400
	if err := nets.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	second, err := h.cli.NetworkInspect(ctx, spec.Name, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if second.ID == first.ID || second.Options[optMTU] != "1400" {
		t.Errorf("hash changed: got id %s (was %s) mtu %s, want a new network with mtu 1400",
			shortID(second.ID), shortID(first.ID), second.Options[optMTU])
	}

	for i := range 2 {
		if err := nets.Delete(ctx, spec.Name); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if _, err := h.cli.NetworkInspect(ctx, spec.Name, network.InspectOptions{}); !isNotFound(err) {
		t.Errorf("network still there after Delete: %v", err)
	}
}

func TestNetworkReplaceRefusedWhileAttached(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	spec := h.netSpec(h.name("busy"))
	if err := h.d.Networks().Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	c := h.spec(h.name("user"))
	c.Networks = []drivers.NetworkAttach{{Network: spec.Name}}
	if err := h.d.Containers().Ensure(ctx, c); err != nil {
		t.Fatal(err)
	}
	before, _ := h.cli.NetworkInspect(ctx, spec.Name, network.InspectOptions{})
	spec.Labels = labels("n2")
	err := h.d.Networks().Ensure(ctx, spec)
	if err == nil || !strings.Contains(err.Error(), spec.Name) {
		t.Errorf("replacing a network with a container attached: got %v, want an error naming it", err)
	}
	if after, _ := h.cli.NetworkInspect(ctx, spec.Name, network.InspectOptions{}); after.ID != before.ID {
		t.Errorf("network changed from %s to %s", shortID(before.ID), shortID(after.ID))
	}
}

func TestNetworkNotOwned(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	name := h.name("foreign")
	subnet, _ := h.subnet()
	resp, err := h.cli.NetworkCreate(ctx, name, network.CreateOptions{
		Driver: "bridge",
		IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	spec := h.netSpec(name)
	if err := h.d.Networks().Ensure(ctx, spec); !errors.Is(err, drivers.ErrNotOwned) {
		t.Errorf("Ensure: got %v, want ErrNotOwned", err)
	}
	if err := h.d.Networks().Delete(ctx, name); !errors.Is(err, drivers.ErrNotOwned) {
		t.Errorf("Delete: got %v, want ErrNotOwned", err)
	}
	// The engine resolves ID prefixes too; a name that is some network's
	// ID prefix must not select that network.
	if err := h.d.Networks().Delete(ctx, resp.ID[:12]); err != nil {
		t.Errorf("Delete by a foreign network's ID prefix: %v", err)
	}
	if _, err := h.cli.NetworkInspect(ctx, resp.ID, network.InspectOptions{}); err != nil {
		t.Errorf("foreign network gone: %v", err)
	}
	list, err := h.d.Networks().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list {
		if n.ID == resp.ID {
			t.Error("a foreign network was listed")
		}
	}
}

func TestContainerStaticIPv4(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	subnet, o := h.subnet()
	lan := drivers.NetworkSpec{
		Name:    h.name("lan"),
		Subnet:  subnet,
		IPRange: fmt.Sprintf("198.19.%d.64/26", o),
		Gateway: fmt.Sprintf("198.19.%d.65", o),
		MTU:     1450,
		Labels:  labels("n1"),
	}
	mgmt := h.netSpec(h.name("mgmt"))
	for _, n := range []drivers.NetworkSpec{lan, mgmt} {
		if err := h.d.Networks().Ensure(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	static := fmt.Sprintf("198.19.%d.70", o)
	db := h.spec(h.name("db"))
	db.Networks = []drivers.NetworkAttach{
		{Network: lan.Name, IPv4: static, Aliases: []string{"db"}},
		{Network: mgmt.Name},
	}
	dyn := h.spec(h.name("app"))
	dyn.Networks = []drivers.NetworkAttach{{Network: lan.Name}}
	for _, c := range []drivers.ContainerSpec{db, dyn} {
		if err := h.d.Containers().Ensure(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	got := h.inspect(db.Name).NetworkSettings.Networks
	if ep := got[lan.Name]; ep == nil || ep.IPAddress != static || !slices.Contains(ep.Aliases, "db") {
		t.Errorf("on %s: got %+v, want %s with alias db", lan.Name, ep, static)
	}
	if ep := got[mgmt.Name]; ep == nil || !netip.MustParsePrefix(mgmt.Subnet).Contains(netip.MustParseAddr(ep.IPAddress)) {
		t.Errorf("on %s: got %+v, want an address in %s", mgmt.Name, ep, mgmt.Subnet)
	}
	// A dynamic address comes from this host's block, and the gateway is this host's.
	ep := h.inspect(dyn.Name).NetworkSettings.Networks[lan.Name]
	if ep == nil || !netip.MustParsePrefix(lan.IPRange).Contains(netip.MustParseAddr(ep.IPAddress)) || ep.Gateway != lan.Gateway {
		t.Errorf("dynamic address: got %+v, want one in %s via %s", ep, lan.IPRange, lan.Gateway)
	}

	list, err := h.d.Containers().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.Name == db.Name && c.Networks[lan.Name] != static {
			t.Errorf("List: networks %v, want %s on %s", c.Networks, static, lan.Name)
		}
	}
}

func TestNetworkBridgeMTU(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()
	spec := h.netSpec(h.name("mtu"))
	spec.Bridge = h.prefix + "m" // ≤ 15 bytes
	if err := h.d.Networks().Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	// The kernel gives a bridge its ports' MTU, so the bridge only shows
	// 1450 once a container (whose veth the engine sets to 1450) is attached.
	keeper := h.spec(h.name("keeper"))
	keeper.Networks = []drivers.NetworkAttach{{Network: spec.Name}}
	probe := h.spec(h.name("probe"), "cat", "/sys/class/net/eth0/mtu")
	probe.Networks = keeper.Networks
	for _, c := range []drivers.ContainerSpec{keeper, probe} {
		if err := h.d.Containers().Ensure(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.TrimSpace(h.output(probe.Name)); got != "1450" {
		t.Errorf("container eth0 mtu: got %q, want 1450", got)
	}
	out, err := exec.Command("ip", "link", "show", spec.Bridge).CombinedOutput()
	if err != nil {
		t.Fatalf("ip link show %s: %v: %s", spec.Bridge, err, out)
	}
	if !strings.Contains(string(out), " mtu 1450 ") {
		t.Errorf("ip link show %s: want mtu 1450, got %s", spec.Bridge, out)
	}
}
