package docker

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unique"

	"github.com/docker/docker/api/types/container"

	"github.com/rensei-dev/rensei/drivers"
)

// Containers implements drivers.Containers on one engine.
type Containers struct{ d *Driver }

var _ drivers.Containers = Containers{}

// cleanupTimeout bounds the removal of a half-made container, which runs
// even when the caller's context has ended.
const cleanupTimeout = 30 * time.Second

// List returns the owned containers, running or not, in one API call.
func (c Containers) List(ctx context.Context) ([]drivers.Container, error) {
	list, err := c.d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: managedFilter()})
	if err != nil {
		return nil, c.d.fail("containers", "", "list", err)
	}
	return summaries(list), nil
}

// Lookup lists the owned containers with one of ids or named one of names:
// one list call for each (the engine ANDs filters of different kinds),
// names anchored and quoted (the engine's name filter is a pattern).
func (c Containers) Lookup(ctx context.Context, ids, names []string) ([]drivers.Container, error) {
	patterns := make([]string, len(names))
	for i, n := range names {
		patterns[i] = "^/" + regexp.QuoteMeta(n) + "$"
	}
	var out []drivers.Container
	seen := map[string]bool{}
	for key, vals := range map[string][]string{"id": ids, "name": patterns} {
		if len(vals) == 0 {
			continue
		}
		f := managedFilter()
		for _, v := range vals {
			f.Add(key, v)
		}
		list, err := c.d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			return nil, c.d.fail("containers", "", "list", err)
		}
		for _, ctr := range summaries(list) {
			// The engine matches IDs by prefix: only those asked for.
			if (slices.Contains(ids, ctr.ID) || slices.Contains(names, ctr.Name)) && !seen[ctr.ID] {
				seen[ctr.ID] = true
				out = append(out, ctr)
			}
		}
	}
	return out, nil
}

// summaries converts the engine's list of containers.
func summaries(list []container.Summary) []drivers.Container {
	out := make([]drivers.Container, 0, len(list))
	for _, s := range list {
		// Labels, image and network names repeat across a host's
		// containers (scope, environment, group, the digests of a group's
		// fields): interned, the list a daemon keeps between passes holds
		// each once, and nothing of the decoded answer stays reachable.
		ctr := drivers.Container{
			ID:      s.ID,
			Image:   intern(s.Image),
			Running: s.State == container.StateRunning,
			Labels:  internMap(s.Labels),
		}
		if len(s.Names) > 0 {
			ctr.Name = strings.Clone(strings.TrimPrefix(s.Names[0], "/"))
		}
		if s.NetworkSettings != nil && len(s.NetworkSettings.Networks) > 0 {
			ctr.Networks = make(map[string]string, len(s.NetworkSettings.Networks))
			for name, ep := range s.NetworkSettings.Networks {
				if ep != nil {
					ctr.Networks[intern(name)] = strings.Clone(ep.IPAddress)
				}
			}
		}
		for _, p := range s.Ports {
			if p.PublicPort != 0 {
				ctr.HostPorts = append(ctr.HostPorts, fmt.Sprintf("%s/%d", p.Type, p.PublicPort))
			}
		}
		slices.Sort(ctr.HostPorts)
		ctr.HostPorts = slices.Compact(ctr.HostPorts)
		out = append(out, ctr)
	}
	return out
}

// Ensure makes the container exist with spec and run. An owned container
// with the same spec hash is started if stopped (unpaused if paused) and
// otherwise left alone; one with another hash is removed and recreated. A
// container of that name without the managed label is left untouched and
// ErrNotOwned returned. A missing image is pulled (bounded by pullTimeout);
// when that fails the error wraps ErrImageMissing. Idempotent.
func (c Containers) Ensure(ctx context.Context, spec drivers.ContainerSpec) error {
	cur, found, err := c.inspect(ctx, spec.Name)
	if err != nil {
		return c.d.fail("container", spec.Name, "inspect", err)
	}
	if found && owned(cur.Config.Labels) && cur.State != nil && cur.State.Status == container.StateRemoving {
		// Someone is removing it (docker rm -f races the event that woke
		// this pass): starting it would fail, so wait for it to go.
		if err := c.waitGone(ctx, spec.Name); err != nil {
			return c.d.fail("container", spec.Name, "wait for removal", err)
		}
		found = false
	}
	if found {
		if !ownedInScope(cur.Config.Labels, spec.Labels) {
			return c.d.notOwned("container", spec.Name, "ensure")
		}
		// A container still in "created" was never started: it may be the
		// leftover of an Ensure that died between create and start, missing
		// its files or networks, so it is recreated rather than trusted. A
		// "dead" one (failed removal) cannot be started at all.
		same := cur.Config.Labels[drivers.LabelSpecHash] == spec.SpecHash() &&
			cur.State.Status != container.StateCreated && cur.State.Status != container.StateDead
		switch {
		case same && cur.State.Paused:
			if err := c.d.cli.ContainerUnpause(ctx, cur.ID); err != nil {
				return c.d.fail("container", spec.Name, "unpause", err)
			}
			c.d.log.Info("container unpaused", "kind", "container", "name", spec.Name, "action", "unpause")
			return nil
		case same && cur.State.Running:
			return nil
		case same:
			if err := c.d.cli.ContainerStart(ctx, cur.ID, container.StartOptions{}); err != nil {
				return c.d.fail("container", spec.Name, "start", err)
			}
			c.d.log.Info("container started", "kind", "container", "name", spec.Name, "action", "start")
			return nil
		}
		if err := c.stopAndRemove(ctx, cur); err != nil {
			return c.d.fail("container", spec.Name, "replace: remove", err)
		}
		c.d.log.Info("container removed for replacement", "kind", "container", "name", spec.Name,
			"action", "replace", "old", cur.Config.Labels[drivers.LabelSpecHash], "new", spec.SpecHash())
	}
	return c.create(ctx, spec)
}

// create creates, prepares and starts a container. Whatever fails after the
// create call, the half-made container is removed so that no owned but
// broken object stays behind for the next pass to trust.
func (c Containers) create(ctx context.Context, spec drivers.ContainerSpec) error {
	// Build the files first: a bad path fails before anything is created.
	archive, err := filesTar(spec.Files, time.Now())
	if err != nil {
		return c.d.fail("container", spec.Name, "files", err)
	}
	if err := c.checkUses(ctx, spec); err != nil {
		return err
	}
	cfg, hostCfg, netCfg := containerConfig(spec)
	resp, err := c.d.cli.ContainerCreate(ctx, cfg, hostCfg, netCfg, nil, spec.Name)
	if err != nil && isNotFound(err) {
		// Create says "not found" for a missing network too; pull only
		// when the image is what is missing.
		if _, ierr := c.d.cli.ImageInspect(ctx, spec.Image); isNotFound(ierr) {
			if perr := c.d.pull(ctx, spec.Name, spec.Image); perr != nil {
				return perr
			}
			resp, err = c.d.cli.ContainerCreate(ctx, cfg, hostCfg, netCfg, nil, spec.Name)
		}
	}
	if err != nil {
		return c.d.fail("container", spec.Name, "create", err)
	}
	if err := c.prepareAndStart(ctx, resp.ID, spec, archive); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if rerr := c.remove(cctx, resp.ID); rerr != nil {
			c.d.log.Warn("container: remove half-made container", "kind", "container",
				"name", spec.Name, "action", "create", "err", rerr)
		}
		return err
	}
	c.d.log.Info("container created", "kind", "container", "name", spec.Name, "action", "create", "id", shortID(resp.ID))
	return nil
}

// checkUses refuses a container that would join a network or mount a
// volume that is missing or not of its deployment: Docker would happily
// attach it to anyone's network of that name, and make an unlabelled
// volume for a missing one. ErrNotOwned or ErrNotFound, naming the object.
func (c Containers) checkUses(ctx context.Context, spec drivers.ContainerSpec) error {
	for _, att := range spec.Networks {
		n, found, err := Networks(c).inspect(ctx, att.Network)
		switch {
		case err != nil:
			return c.d.fail("container", spec.Name, "inspect network "+att.Network, err)
		case !found:
			return c.d.fail("container", spec.Name, "network "+att.Network, drivers.ErrNotFound)
		case !ownedInScope(n.Labels, spec.Labels):
			return fmt.Errorf("container %s on %s: network %s is %s: %w", spec.Name, c.d.host, att.Network, ownerOf(n.Labels), drivers.ErrNotOwned)
		}
	}
	for _, m := range spec.Mounts {
		v, err := c.d.cli.VolumeInspect(ctx, m.Volume)
		switch {
		case isNotFound(err):
			return c.d.fail("container", spec.Name, "volume "+m.Volume, drivers.ErrNotFound)
		case err != nil:
			return c.d.fail("container", spec.Name, "inspect volume "+m.Volume, err)
		case !ownedInScope(v.Labels, spec.Labels):
			return fmt.Errorf("container %s on %s: volume %s is %s: %w", spec.Name, c.d.host, m.Volume, ownerOf(v.Labels), drivers.ErrNotOwned)
		}
	}
	return nil
}

// prepareAndStart connects the remaining networks, places the files and
// starts the container, in that order: the process must see both at start.
func (c Containers) prepareAndStart(ctx context.Context, id string, spec drivers.ContainerSpec, archive []byte) error {
	for _, att := range spec.Networks[min(1, len(spec.Networks)):] {
		if err := c.d.cli.NetworkConnect(ctx, att.Network, id, endpoint(att)); err != nil {
			return c.d.fail("container", spec.Name, "connect network "+att.Network, err)
		}
	}
	if err := c.d.copyFiles(ctx, id, archive); err != nil {
		return c.d.fail("container", spec.Name, "copy files", err)
	}
	if err := c.d.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return c.d.fail("container", spec.Name, "start", err)
	}
	return nil
}

// Delete removes an owned container, killing it first if it runs (busybox
// sh as PID 1 ignores SIGTERM, so a graceful stop would only wait out the
// timeout). Volumes are never removed. Already gone is not an error; a
// container of that name that is not owned gives ErrNotOwned.
func (c Containers) Delete(ctx context.Context, name string) error {
	cur, found, err := c.inspect(ctx, name)
	if err != nil {
		return c.d.fail("container", name, "inspect", err)
	}
	if !found {
		return nil
	}
	if !c.d.ours(cur.Config.Labels) {
		return c.d.notOwned("container", name, "delete")
	}
	if err := c.stopAndRemove(ctx, cur); err != nil {
		return c.d.fail("container", name, "remove", err)
	}
	c.d.log.Info("container deleted", "kind", "container", "name", name, "action", "delete")
	return nil
}

// inspect looks a container up by exact name. The engine also resolves ID
// prefixes, so a hit whose name differs counts as not found: a name must
// never select some other container by its ID.
func (c Containers) inspect(ctx context.Context, name string) (container.InspectResponse, bool, error) {
	cur, err := c.d.cli.ContainerInspect(ctx, name)
	switch {
	case isNotFound(err):
		return cur, false, nil
	case err != nil:
		return cur, false, err
	case cur.ContainerJSONBase == nil || cur.Config == nil:
		return cur, false, fmt.Errorf("inspect %s: incomplete answer", name)
	case strings.TrimPrefix(cur.Name, "/") != name:
		return cur, false, nil
	}
	return cur, true, nil
}

// removalWait bounds the wait for a container another client is removing.
const removalWait = 15 * time.Second

// waitGone polls until no container has that name, ctx ends or removalWait passes.
func (c Containers) waitGone(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, removalWait)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, found, err := c.inspect(ctx, name); err != nil || !found {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still being removed: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// remove force-removes a container by ID, keeping its volumes. Already gone
// is success.
// stopAndRemove removes a container; one made with a stop timeout (its
// group declares how it stops) is stopped first: its signal, then its
// timeout for it to exit, then killed.
func (c Containers) stopAndRemove(ctx context.Context, cur container.InspectResponse) error {
	if cur.Config != nil && cur.Config.StopTimeout != nil && cur.State != nil && cur.State.Running {
		if err := c.d.cli.ContainerStop(ctx, cur.ID, container.StopOptions{}); err != nil && !isNotFound(err) {
			return err
		}
	}
	return c.remove(ctx, cur.ID)
}

func (c Containers) remove(ctx context.Context, id string) error {
	err := c.d.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	if err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

func shortID(id string) string { return id[:min(12, len(id))] }

func intern(s string) string { return unique.Make(s).Value() }

// internMap copies m with its keys and values interned.
func internMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[intern(k)] = intern(v)
	}
	return out
}
