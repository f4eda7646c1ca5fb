package docker

import (
	"context"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"

	"github.com/rensei-dev/rensei/drivers"
)

// Volumes implements drivers.Volumes (local named volumes) on one engine.
type Volumes struct{ d *Driver }

var _ drivers.Volumes = Volumes{}

// List returns the owned volumes in one API call. CreatedAt is zero when
// the engine does not report it.
func (v Volumes) List(ctx context.Context) ([]drivers.Volume, error) {
	resp, err := v.d.cli.VolumeList(ctx, volume.ListOptions{Filters: managedFilter()})
	if err != nil {
		return nil, v.d.fail("volumes", "", "list", err)
	}
	out := make([]drivers.Volume, 0, len(resp.Volumes))
	for _, vol := range resp.Volumes {
		if vol == nil {
			continue
		}
		created, _ := time.Parse(time.RFC3339, vol.CreatedAt)
		out = append(out, drivers.Volume{Name: vol.Name, Labels: vol.Labels, CreatedAt: created})
	}
	return out, nil
}

var _ drivers.VolumeMounts = Volumes{}

// MountedBy lists every container of the engine, Rensei's or not, running or
// not, in one call and maps each named volume to the containers mounting it.
func (v Volumes) MountedBy(ctx context.Context) (map[string][]string, error) {
	list, err := v.d.cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, v.d.fail("containers", "", "list", err)
	}
	out := map[string][]string{}
	for _, c := range list {
		name := shortID(c.ID)
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		for _, m := range c.Mounts {
			if m.Type == mount.TypeVolume && m.Name != "" {
				out[m.Name] = append(out[m.Name], name)
			}
		}
	}
	return out, nil
}

// Ensure creates the volume (local driver) when it is missing. It never
// touches an existing volume: an owned one is left as it is, whatever its
// labels say now, and one Rensei does not own gives ErrNotOwned. Idempotent.
func (v Volumes) Ensure(ctx context.Context, spec drivers.VolumeSpec) error {
	cur, err := v.d.cli.VolumeInspect(ctx, spec.Name)
	switch {
	case err == nil && ownedInScope(cur.Labels, spec.Labels):
		return nil
	case err == nil:
		return v.d.notOwned("volume", spec.Name, "ensure")
	case !isNotFound(err):
		return v.d.fail("volume", spec.Name, "inspect", err)
	}
	if _, err := v.d.cli.VolumeCreate(ctx, volume.CreateOptions{
		Name:   spec.Name,
		Driver: "local",
		Labels: ownedLabels(spec.Labels),
	}); err != nil {
		return v.d.fail("volume", spec.Name, "create", err)
	}
	v.d.log.Info("volume created", "kind", "volume", "name", spec.Name, "action", "create")
	return nil
}

// Delete removes an owned volume and its data; it fails while a container
// uses it. Already gone is not an error; not owned is ErrNotOwned. Only
// explicit commands call it: pruning never removes volumes.
func (v Volumes) Delete(ctx context.Context, name string) error {
	cur, err := v.d.cli.VolumeInspect(ctx, name)
	switch {
	case isNotFound(err):
		return nil
	case err != nil:
		return v.d.fail("volume", name, "inspect", err)
	case !v.d.ours(cur.Labels):
		return v.d.notOwned("volume", name, "delete")
	}
	if err := v.d.cli.VolumeRemove(ctx, name, false); err != nil && !isNotFound(err) {
		return v.d.fail("volume", name, "remove", err)
	}
	v.d.log.Info("volume deleted", "kind", "volume", "name", name, "action", "delete")
	return nil
}

var _ drivers.Names = Volumes{}

// Names lists every volume of the engine, Rensei's or not, with its owner,
// in one call.
func (v Volumes) Names(ctx context.Context) (map[string]drivers.Owner, error) {
	resp, err := v.d.cli.VolumeList(ctx, volume.ListOptions{})
	if err != nil {
		return nil, v.d.fail("volumes", "", "list", err)
	}
	out := make(map[string]drivers.Owner, len(resp.Volumes))
	for _, vol := range resp.Volumes {
		if vol != nil {
			out[vol.Name] = ownerOf(vol.Labels)
		}
	}
	return out, nil
}
