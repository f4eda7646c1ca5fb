package netlink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	vnl "github.com/vishvananda/netlink"

	"github.com/rensei-dev/rensei/drivers"
)

// ensureN makes n owned tunnels rs-vx-<1000+i>, each on its own bridge.
func ensureN(tb testing.TB, ctx context.Context, tun *Tunnels, ns string, n int) []string {
	tb.Helper()
	names := make([]string, n)
	for i := range n {
		vni := 1000 + i
		br := fmt.Sprintf("rs-br-%d", vni)
		addBridge(tb, ns, br)
		names[i] = fmt.Sprintf("rs-vx-%d", vni)
		spec := drivers.TunnelSpec{
			Name: names[i], VNI: vni, Local: underlay(1), Port: 4789, Bridge: br, MTU: 1450,
			Peers: []string{underlay(2), underlay(3)}, Owner: fmt.Sprintf("env/net%d", i),
		}
		if err := tun.Ensure(ctx, spec); err != nil {
			tb.Fatalf("Ensure %s: %v", spec.Name, err)
		}
	}
	return names
}

// linkNames lists the names of all links in ns.
func linkNames(tb testing.TB, ns string) []string {
	tb.Helper()
	var links []struct {
		Name string `json:"ifname"`
	}
	ipJSON(tb, &links, "ip", ns, "link", "show")
	var names []string
	for _, l := range links {
		names = append(names, l.Name)
	}
	slices.Sort(names)
	return names
}

func TestDelete(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	tun, _ := newTunnels(t, ns)
	ctx := testCtx(t)
	names := ensureN(t, ctx, tun, ns, 2)
	if err := tun.Delete(ctx, names[0]); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := tun.Delete(ctx, names[0]); err != nil {
		t.Errorf("Delete of a deleted device: %v, want nil", err)
	}
	if err := tun.Delete(ctx, "rs-vx-never"); err != nil {
		t.Errorf("Delete of a missing device: %v, want nil", err)
	}
	got, err := tun.List(ctx)
	if err != nil || len(got) != 1 || got[0].Name != names[1] {
		t.Errorf("List after Delete = %+v, %v; want only %s", got, err, names[1])
	}
}

func TestDeleteMany(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	tun, _ := newTunnels(t, ns)
	ctx := testCtx(t)
	names := ensureN(t, ctx, tun, ns, 6)
	// Bystanders: an unowned device named for deletion, an unowned device in
	// the default group, and an owned device not named.
	run(t, "ip", "-n", ns, "link", "add", "rs-vx-9", "type", "vxlan", "id", "9", "dstport", "4789")
	run(t, "ip", "-n", ns, "link", "add", "vx-other", "type", "vxlan", "id", "10", "dstport", "4789")
	keep := names[5]
	doomed := names[:5]

	err := tun.DeleteMany(ctx, append(slices.Clone(doomed), "rs-vx-9", "rs-vx-missing", doomed[0]))
	if !errors.Is(err, drivers.ErrNotOwned) {
		t.Errorf("DeleteMany naming an unowned device: got %v, want ErrNotOwned", err)
	}
	got := linkNames(t, ns)
	for _, n := range doomed {
		if slices.Contains(got, n) {
			t.Errorf("%s survived DeleteMany", n)
		}
	}
	for _, n := range []string{keep, "rs-vx-9", "vx-other", "rs-br-1000"} {
		if !slices.Contains(got, n) {
			t.Errorf("DeleteMany removed bystander %s", n)
		}
	}
	list, err := tun.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if diff := cmp.Diff([]string{keep}, tunnelNames(list)); diff != "" {
		t.Errorf("List after DeleteMany (-want +got):\n%s", diff)
	}
	// One and none: the single-device path and the empty path.
	if err := tun.DeleteMany(ctx, []string{keep}); err != nil {
		t.Errorf("DeleteMany(one): %v", err)
	}
	if err := tun.DeleteMany(ctx, nil); err != nil {
		t.Errorf("DeleteMany(nil): %v", err)
	}
	if list, _ := tun.List(ctx); len(list) != 0 {
		t.Errorf("List after deleting all = %+v", list)
	}
}

// A device that joins the chosen group between tagging and deleting must not
// be deleted: deleteGroup refuses and DeleteMany falls back to one by one.
func TestDeleteGroupRefusesIntruder(t *testing.T) {
	t.Parallel()
	ns := newNetns(t)
	tun, _ := newTunnels(t, ns)
	ctx := testCtx(t)
	names := ensureN(t, ctx, tun, ns, 3)
	links, err := tun.h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	const group = 0xfffffffe // above what `ip link set group` accepts
	var targets []vnl.Link
	for _, l := range links {
		if slices.Contains(names[:2], l.Attrs().Name) {
			targets = append(targets, l)
		}
		if l.Attrs().Name == names[2] {
			if err := tun.h.LinkSetGroup(l, group); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tun.deleteGroup(ctx, targets, group); err == nil {
		t.Fatal("deleteGroup with an intruder in the group: got nil error")
	}
	if got := linkNames(t, ns); !slices.Contains(got, names[2]) || !slices.Contains(got, names[0]) {
		t.Errorf("deleteGroup deleted something although it refused: %v", got)
	}
}

func tunnelNames(ts []drivers.Tunnel) []string {
	var n []string
	for _, t := range ts {
		n = append(n, t.Name)
	}
	return n
}
