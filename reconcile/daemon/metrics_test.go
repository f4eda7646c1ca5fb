package daemon

import (
	"context"
	"testing"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/fake"
	"github.com/rensei-dev/rensei/reconcile/engine"
)

// TestCacheMetrics: the connected hosts' cache counters are exported at
// each scrape (nothing before the daemon connects), and a new connection
// is read from then on.
func TestCacheMetrics(t *testing.T) {
	m := NewMetrics(nil)
	scrape := func() map[string]float64 {
		t.Helper()
		fams, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, f := range fams {
			for _, s := range f.Metric {
				if s.Counter != nil {
					out[f.GetName()] = s.Counter.GetValue()
				}
			}
		}
		return out
	}
	if got, ok := scrape()["rensei_cache_hits_total"]; ok {
		t.Errorf("before connecting: rensei_cache_hits_total = %v, want no series", got)
	}

	connect := func() (*engine.Hosts, drivers.Host) {
		c := engine.NewCache(engine.CacheOptions{}, nil, func() {})
		h := c.Wrap("site-a/docker", fake.New("site-a/docker").Drivers())
		c.Watching("site-a/docker", "test", true)
		return &engine.Hosts{Drivers: map[string]drivers.Host{"site-a/docker": h}}, h
	}
	hosts, h := connect()
	m.cache.hosts.Store(hosts)
	ctx := context.Background()
	for range 3 {
		if _, err := h.Containers.List(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := scrape()
	if got["rensei_cache_lists_total"] != 1 || got["rensei_cache_hits_total"] != 2 {
		t.Errorf("after three lists: lists %v, hits %v, want 1 and 2", got["rensei_cache_lists_total"], got["rensei_cache_hits_total"])
	}
	for _, name := range []string{"rensei_cache_resyncs_total", "rensei_cache_gaps_total", "rensei_cache_stale_total", "rensei_cache_idle_passes_total"} {
		if v, ok := got[name]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0", name, v, ok)
		}
	}

	hosts, _ = connect()
	m.cache.hosts.Store(hosts)
	if got := scrape(); got["rensei_cache_lists_total"] != 0 || got["rensei_cache_hits_total"] != 0 {
		t.Errorf("a new connection: lists %v, hits %v, want 0 (a counter reset)", got["rensei_cache_lists_total"], got["rensei_cache_hits_total"])
	}
}
