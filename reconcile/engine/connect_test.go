package engine_test

import (
	"strings"
	"testing"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/schema"
)

// TestConnectUnknownHost: a host selection naming a host the topology
// lacks is an error naming it and the known hosts, for the CLI and the
// daemon alike, before any host is contacted.
func TestConnectUnknownHost(t *testing.T) {
	topo := &schema.Topology{Sites: []schema.Site{
		{Name: "site-a", Hosts: []schema.Host{{Name: "docker", Docker: "unix:///nonexistent.sock"}}},
		{Name: "site-b", Hosts: []schema.Host{{Name: "gpu", Docker: "unix:///nonexistent.sock"}}},
	}}
	for _, only := range [][]string{nil, {"site-a/docker"}, {"gpu"}, {"site-a/docker", "site-b/gpu"}} {
		if err := engine.CheckOnly(topo, only); err != nil {
			t.Errorf("engine.CheckOnly(%q): %v", only, err)
		}
	}
	for _, connect := range []func([]string) error{
		func(only []string) error { _, err := engine.Connect(topo, only, "", nil); return err },
		func(only []string) error {
			_, _, err := engine.ConnectWatching(t.Context(), topo, only, "", nil)
			return err
		},
	} {
		err := connect([]string{"site-a/docker", "site-a/gpu", "nosuch"})
		if err == nil {
			t.Fatal("unknown hosts accepted")
		}
		for _, want := range []string{`unknown host "site-a/gpu", "nosuch"`, "known hosts are site-a/docker, site-b/gpu"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	}
}
