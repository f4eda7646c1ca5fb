package engine

import (
	"context"
	"sort"
	"sync"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/schema"
)

// HostProbe is what probing found of one host.
type HostProbe struct {
	Host     string             `json:"host"`
	Docker   string             `json:"docker"`
	Underlay string             `json:"underlay,omitempty"`
	Netns    string             `json:"netns,omitempty"`
	Status   drivers.HostStatus `json:"status"`
}

// Probe probes every connected host of topo in parallel: engine and
// version, underlay address, VXLAN. It changes nothing. The result is
// sorted by host.
func Probe(ctx context.Context, topo *schema.Topology, hosts *Hosts) []HostProbe {
	var rows []HostProbe
	for _, s := range topo.Sites {
		for _, h := range s.Hosts {
			key := s.Name + "/" + h.Name
			if _, ok := hosts.Drivers[key]; ok {
				rows = append(rows, HostProbe{Host: key, Docker: h.Docker, Underlay: h.Underlay, Netns: h.Netns})
			}
		}
	}
	var wg sync.WaitGroup
	for i := range rows {
		h := hosts.Drivers[rows[i].Host]
		if h.Probe == nil {
			rows[i].Status = drivers.HostStatus{Reachable: true}
			continue
		}
		wg.Go(func() { rows[i].Status = h.Probe(ctx) })
	}
	wg.Wait()
	sort.Slice(rows, func(i, j int) bool { return rows[i].Host < rows[j].Host })
	return rows
}
