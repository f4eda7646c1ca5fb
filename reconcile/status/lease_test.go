package status_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rensei-dev/rensei/reconcile/status"
)

func keys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// TestLeases: a daemon acquires free hosts, renews only past half the
// lease, leaves hosts another holds, takes an expired lease over, and
// releases on stop; every write is a commit naming what happened.
func TestLeases(t *testing.T) {
	ctx := context.Background()
	url := bare(t)
	pa, pb := publisher(t, url), publisher(t, url)
	a := status.Holder{ID: "a", Machine: "ma", PID: 1, Branch: "main"}
	b := status.Holder{ID: "b", Machine: "mb", PID: 2, Branch: "other"}
	t0 := time.Date(2027, 2, 1, 9, 0, 0, 0, time.UTC)
	ttl := time.Minute

	c, err := pa.Claim(ctx, a, []string{"s/h1", "s/h2"}, ttl, t0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"s/h1", "s/h2"}, keys(c.Held)); diff != "" || len(c.Others) > 0 {
		t.Fatalf("first claim: held %v others %v", keys(c.Held), keys(c.Others))
	}
	commits := func() int { return len(gitLines(t, url, "log", "--format=%H", "rensei/status")) }
	if n := commits(); n != 1 {
		t.Fatalf("%d commits after the first claim, want 1", n)
	}
	// Renewal before half the lease: nothing written.
	if _, err := pa.Claim(ctx, a, []string{"s/h1", "s/h2"}, ttl, t0.Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := commits(); n != 1 {
		t.Errorf("%d commits after an early renewal, want 1", n)
	}
	// b overlaps on h2 and adds h3.
	c, err = pb.Claim(ctx, b, []string{"s/h2", "s/h3"}, ttl, t0.Add(25*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"s/h3"}, keys(c.Held)); diff != "" {
		t.Errorf("b holds %v, want only s/h3", keys(c.Held))
	}
	if got := c.Others["s/h2"].Holder; got != a {
		t.Errorf("b sees s/h2 held by %+v, want %+v", got, a)
	}
	// Past half the lease a renews: one commit.
	c, err = pa.Claim(ctx, a, []string{"s/h1", "s/h2"}, ttl, t0.Add(40*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(100 * time.Second); !c.Held["s/h1"].Equal(want) {
		t.Errorf("renewed until %s, want %s", c.Held["s/h1"], want)
	}
	// a stops renewing; b takes h2 over after the expiry, not before.
	c, _ = pb.Claim(ctx, b, []string{"s/h2", "s/h3"}, ttl, t0.Add(99*time.Second))
	if _, ok := c.Held["s/h2"]; ok {
		t.Fatal("b took s/h2 before a's lease expired")
	}
	c, err = pb.Claim(ctx, b, []string{"s/h2", "s/h3"}, ttl, t0.Add(101*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Held["s/h2"]; !ok || c.Taken["s/h2"].Holder != a {
		t.Fatalf("b after a's lease expired: held %v, taken %v", keys(c.Held), c.Taken)
	}
	msg := gitLines(t, url, "log", "-1", "--format=%B", "rensei/status")
	if !slices.ContainsFunc(msg, func(l string) bool {
		return l == `s/h2 taken over (the lease of the daemon enforcing "main" on ma (pid 1) expired 2027-02-01T09:01:40Z)`
	}) {
		t.Errorf("takeover commit message: %q", msg)
	}
	// a comes back: h2 is b's now.
	c, _ = pa.Claim(ctx, a, []string{"s/h1", "s/h2"}, ttl, t0.Add(102*time.Second))
	if _, ok := c.Held["s/h2"]; ok || c.Others["s/h2"].Holder != b {
		t.Errorf("a after the takeover: held %v, others %v", keys(c.Held), c.Others)
	}
	// b stops: its hosts are free at once.
	if err := pb.Release(ctx, b, []string{"s/h2", "s/h3"}, t0.Add(103*time.Second)); err != nil {
		t.Fatal(err)
	}
	c, _ = pa.Claim(ctx, a, []string{"s/h1", "s/h2", "s/h3"}, ttl, t0.Add(104*time.Second))
	if diff := cmp.Diff([]string{"s/h1", "s/h2", "s/h3"}, keys(c.Held)); diff != "" {
		t.Errorf("a after b released: %s", diff)
	}
}

// TestLeaseRace: daemons claiming the same free hosts at the same moment
// end with every host held by exactly one of them.
func TestLeaseRace(t *testing.T) {
	ctx := context.Background()
	url := bare(t)
	hosts := []string{"s/h1", "s/h2", "s/h3"}
	now := time.Now()
	claims := make([]status.Claim, 4)
	var wg sync.WaitGroup
	for i := range claims {
		p := publisher(t, url)
		wg.Go(func() {
			c, err := p.Claim(ctx, status.Holder{ID: string(rune('a' + i))}, hosts, time.Minute, now)
			if err != nil {
				t.Error(err)
			}
			claims[i] = c
		})
	}
	wg.Wait()
	for _, h := range hosts {
		n := 0
		for _, c := range claims {
			if _, ok := c.Held[h]; ok {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s held by %d daemons, want 1", h, n)
		}
	}
}

// gitLines runs git in dir and returns its output's lines.
func gitLines(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	return strings.Split(strings.TrimSpace(git(t, dir, args...)), "\n")
}

// TestHolderAcrossRestarts: a daemon restarted on the same state directory
// is the same holder (it takes its leases back at once); another
// directory, or no directory, is another holder.
func TestHolderAcrossRestarts(t *testing.T) {
	a, again := status.NewHolder("main", "/var/lib/rensei"), status.NewHolder("main", "/var/lib/rensei")
	other, anon := status.NewHolder("main", "/srv/other"), status.NewHolder("main", "")
	if a.ID != again.ID {
		t.Errorf("same state directory: %q and %q", a.ID, again.ID)
	}
	if a.ID == other.ID || a.ID == anon.ID || anon.ID == status.NewHolder("main", "").ID {
		t.Errorf("distinct holders share an ID: %q %q %q", a.ID, other.ID, anon.ID)
	}
}
