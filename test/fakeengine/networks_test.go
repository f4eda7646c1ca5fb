package fakeengine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/network"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/test/fakeengine"
)

func TestNetworks(t *testing.T) {
	e := newEngine(t, fakeengine.Options{})
	d := newDriver(t, e)
	ctx := testCtx(t)
	lan := netSpec("lan", "10.40.0.0/16", "10.40.3.0/24", "10.40.3.1")
	lan.Bridge = "rs-lan"
	if err := d.Networks().Ensure(ctx, lan); err != nil {
		t.Fatal(err)
	}
	plain := netSpec("plain", "", "", "")
	if err := d.Networks().Ensure(ctx, plain); err != nil {
		t.Fatal(err)
	}
	list, err := d.Networks().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]drivers.Network{}
	for _, n := range list {
		got[n.Name] = n
	}
	if len(got) != 2 || got["lan"].Bridge != "rs-lan" || got["lan"].Subnet != "10.40.0.0/16" {
		t.Errorf("listed %+v, want lan on rs-lan with its subnet, and plain (predefined networks are not owned)", list)
	}
	if p := got["plain"]; p.Subnet != "172.18.0.0/16" || p.Bridge != "br-"+p.ID[:12] {
		t.Errorf("plain %+v, want the first free default pool and bridge br-<id>", p)
	}
	for _, n := range e.Networks() {
		if n.Name == "lan" && (n.IPRange != "10.40.3.0/24" || n.Gateway != "10.40.3.1" || n.Options["com.docker.network.driver.mtu"] != "1450") {
			t.Errorf("lan as modelled: %+v", n)
		}
	}

	creates := e.Calls("NetworkCreate")
	if err := d.Networks().Ensure(ctx, lan); err != nil || e.Calls("NetworkCreate") != creates {
		t.Errorf("second Ensure: err %v, %d creates", err, e.Calls("NetworkCreate")-creates)
	}

	overlap := netSpec("overlap", "10.40.7.0/24", "", "")
	err = d.Networks().Ensure(ctx, overlap)
	if err == nil || !strings.Contains(err.Error(), "invalid pool request: Pool overlaps with other one on this address space") {
		t.Errorf("overlapping subnet: %v", err)
	}
	sameBridge := netSpec("same-bridge", "10.41.0.0/24", "", "")
	sameBridge.Bridge = "rs-lan"
	err = d.Networks().Ensure(ctx, sameBridge)
	if err == nil || !strings.Contains(err.Error(), "networks have same bridge name") {
		t.Errorf("reused bridge name: %v", err)
	}
	bad := netSpec("bad", "10.42.0.0/24", "10.43.0.0/24", "")
	err = d.Networks().Ensure(ctx, bad)
	if err == nil || !strings.Contains(err.Error(), "doesn't contain ip-range") {
		t.Errorf("ip-range outside the subnet: %v", err)
	}

	// Replacing (or deleting) a network fails while a container runs on it.
	s := spec("web")
	s.Networks = []drivers.NetworkAttach{{Network: "lan"}}
	if err := d.Containers().Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	// dockerd reserves only the subnet's own network and broadcast
	// addresses, so the first address of a block inside it is handed out.
	if ip := listed(t, d, "web").Networks["lan"]; ip != "10.40.3.0" {
		t.Errorf("dynamic address %s, want 10.40.3.0 (the block's first free)", ip)
	}
	lan.Labels = labels("n2")
	err = d.Networks().Ensure(ctx, lan)
	if err == nil || !strings.Contains(err.Error(), `error while removing network: network lan has active endpoints (name:"web" id:`) {
		t.Errorf("replace while attached: %v", err)
	}
	if err := d.Containers().Delete(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if err := d.Networks().Ensure(ctx, lan); err != nil {
		t.Errorf("replace after the container went: %v", err)
	}
	if err := d.Networks().Delete(ctx, "lan"); err != nil {
		t.Fatal(err)
	}
	if err := d.Networks().Delete(ctx, "lan"); err != nil {
		t.Errorf("deleting a gone network: %v", err)
	}

	// A network Rensei does not own is left alone.
	cli := newClient(t, e)
	if _, err := cli.NetworkCreate(ctx, "foreign", network.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := d.Networks().Delete(ctx, "foreign"); !errors.Is(err, drivers.ErrNotOwned) {
		t.Errorf("Delete of a foreign network: %v", err)
	}
	_, err = cli.NetworkCreate(ctx, "foreign", network.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "network with name foreign already exists") {
		t.Errorf("name conflict: %v", err)
	}
	if err := cli.NetworkRemove(ctx, "bridge"); err == nil {
		t.Error("removed the predefined bridge network")
	}
}

func TestNetworkConnectRunning(t *testing.T) {
	e := newEngine(t, fakeengine.Options{})
	d := newDriver(t, e)
	ctx := testCtx(t)
	for _, n := range []drivers.NetworkSpec{netSpec("one", "10.50.0.0/24", "", ""), netSpec("two", "10.51.0.0/24", "", "")} {
		if err := d.Networks().Ensure(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	s := spec("web")
	s.Networks = []drivers.NetworkAttach{{Network: "one"}}
	if err := d.Containers().Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	cli := newClient(t, e)
	ep := &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: "10.51.0.9"}}
	if err := cli.NetworkConnect(ctx, "two", "web", ep); err != nil {
		t.Fatal(err)
	}
	if ip := listed(t, d, "web").Networks["two"]; ip != "10.51.0.9" {
		t.Errorf("connected at %q, want 10.51.0.9", ip)
	}
	err := cli.NetworkConnect(ctx, "two", "web", nil)
	if err == nil || !strings.Contains(err.Error(), "endpoint with name web already exists in network two") {
		t.Errorf("second connect: %v", err)
	}
	if err := cli.NetworkDisconnect(ctx, "two", "web", false); err != nil {
		t.Fatal(err)
	}
	if n := listed(t, d, "web").Networks; len(n) != 1 {
		t.Errorf("after disconnect: %v", n)
	}
	insp, err := cli.NetworkInspect(ctx, "one", network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(insp.Containers) != 1 {
		t.Errorf("network one lists %d endpoints, want 1", len(insp.Containers))
	}
}
