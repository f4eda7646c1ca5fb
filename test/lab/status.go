package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// Status is what the lab looks like now, one entry per site.
type Status struct {
	Sites []Site `json:"sites"`
}

// Site is one emulated site as observed.
type Site struct {
	Name          string   `json:"name"`          // site-a
	Netns         string   `json:"netns"`         // rs-lab-a
	Underlay      string   `json:"underlay"`      // 198.18.0.1, the VXLAN endpoint
	Docker        string   `json:"docker"`        // unix:///run/rensei-lab/site-a/docker.sock
	Up            bool     `json:"up"`            // the engine answers
	DockerVersion string   `json:"dockerVersion"` // empty when down
	Tunnels       []string `json:"tunnels"`       // rs-vx-* links in the namespace
	Containers    []string `json:"containers"`    // names of containers labelled io.rensei.managed=true
	Error         string   `json:"error,omitempty"`
}

// Site returns the entry named name (site-a) and whether there is one.
func (st *Status) Site(name string) (Site, bool) {
	for _, s := range st.Sites {
		if s.Name == name {
			return s, true
		}
	}
	return Site{}, false
}

// Observe returns the lab's Status without changing anything. (It cannot be
// called Status: that name is the type's.) With opts.Sites set it
// reports exactly those sites (absent ones as down); otherwise every site of
// which anything exists. A site that is down is reported, not an error.
func Observe(ctx context.Context, opts Options) (*Status, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	sites := present(o)
	if o.Sites > 0 {
		sites = firstSites(o, o.Sites)
	}
	return status(ctx, o, sites), nil
}

func status(ctx context.Context, o Options, sites []site) *Status {
	st := &Status{Sites: make([]Site, len(sites))}
	var wg sync.WaitGroup
	for i, s := range sites {
		wg.Go(func() { st.Sites[i] = observe(ctx, s) })
	}
	wg.Wait()
	return st
}

// observe fills one site's entry; problems end up in Error.
func observe(ctx context.Context, s site) Site {
	out := Site{
		Name:       s.name,
		Netns:      s.netns,
		Underlay:   s.underlay.Addr().String(),
		Docker:     s.dockerURL(),
		Tunnels:    []string{},
		Containers: []string{},
	}
	var problems []string
	if live, _ := isNetns(s.netnsPath()); !live {
		problems = append(problems, "no netns "+s.netns)
	} else if tun, err := tunnels(s); err != nil {
		problems = append(problems, err.Error())
	} else if tun != nil {
		out.Tunnels = tun
	}
	if _, err := os.Stat(s.socket()); err != nil {
		problems = append(problems, "dockerd not running")
		out.Error = strings.Join(problems, "; ")
		return out
	}
	cli, err := siteClient(s)
	if err != nil {
		problems = append(problems, err.Error())
		out.Error = strings.Join(problems, "; ")
		return out
	}
	defer cli.Close()
	if err := ping(ctx, cli); err != nil {
		problems = append(problems, "dockerd not answering: "+err.Error())
		out.Error = strings.Join(problems, "; ")
		return out
	}
	out.Up = true
	if v, err := cli.ServerVersion(ctx); err == nil {
		out.DockerVersion = v.Version
	}
	list, err := cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", ManagedLabel+"=true")),
	})
	if err != nil {
		problems = append(problems, fmt.Sprintf("list containers: %v", err))
	}
	for _, c := range list {
		if len(c.Names) > 0 {
			out.Containers = append(out.Containers, strings.TrimPrefix(c.Names[0], "/"))
		}
	}
	sort.Strings(out.Containers)
	out.Error = strings.Join(problems, "; ")
	return out
}

// removeContainers force-removes every container of the site's engine (and
// their anonymous volumes), so that none lingers as a process or a mount
// when dockerd stops. An engine that does not answer is an error; one that
// was never started is not.
func removeContainers(ctx context.Context, s site) error {
	if _, err := os.Stat(s.socket()); err != nil {
		return nil
	}
	cli, err := siteClient(s)
	if err != nil {
		return err
	}
	defer cli.Close()
	if err := ping(ctx, cli); err != nil {
		return fmt.Errorf("%s: docker: %w", s.name, err)
	}
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return fmt.Errorf("%s: docker: list containers: %w", s.name, err)
	}
	errs := make([]error, len(list))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, c := range list {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
				errs[i] = fmt.Errorf("%s: container %s: remove: %w", s.name, c.ID[:12], err)
			}
		})
	}
	wg.Wait()
	if len(list) > 0 {
		s.log.Info("containers removed", "action", "delete", "name", fmt.Sprint(len(list), " containers"))
	}
	return errors.Join(errs...)
}
