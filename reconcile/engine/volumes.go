package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/place"
)

// VolumeRow is one owned volume on one host, with who uses it.
type VolumeRow struct {
	Host     string    `json:"host"`
	Name     string    `json:"name"`
	Env      string    `json:"env"`
	Group    string    `json:"group,omitempty"`
	Instance string    `json:"instance,omitempty"`
	Volume   string    `json:"volume,omitempty"`
	Created  time.Time `json:"created,omitzero"`
	// EnvState is the environment's state at the time placed: active,
	// scheduled, ended, or removed (no longer in the configuration).
	EnvState string `json:"envState"`
	// DesiredBy lists the desired containers that mount it.
	DesiredBy []string `json:"desiredBy"`
	// MountedBy lists the containers on the host, running or not, owned or
	// not, that mount it; nil with MountsKnown false when the engine could
	// not be asked.
	MountedBy   []string `json:"mountedBy"`
	MountsKnown bool     `json:"mountsKnown"`
}

// HostFailure is a host whose volumes could not be listed.
type HostFailure struct {
	Host  string `json:"host"`
	Error string `json:"error"`
}

// VolumeScan is what every host holds, sorted by host and name.
type VolumeScan struct {
	Volumes []VolumeRow   `json:"volumes"`
	Failed  []HostFailure `json:"failed"`
}

// Err reports the hosts that could not be listed, or nil.
func (s VolumeScan) Err() error {
	if len(s.Failed) == 0 {
		return nil
	}
	parts := make([]string, len(s.Failed))
	for i, f := range s.Failed {
		parts[i] = f.Host + ": " + f.Error
	}
	return fmt.Errorf("volumes not listed on %d host(s): %s", len(s.Failed), strings.Join(parts, "; "))
}

// ScanVolumes lists the owned volumes of the hosts' deployment scope (and
// of env, when given) on every connected host in parallel, with the
// containers that mount them.
func ScanVolumes(ctx context.Context, want *place.Desired, hosts *Hosts, env string) VolumeScan {
	scope := hosts.Scope
	scan := VolumeScan{Volumes: []VolumeRow{}, Failed: []HostFailure{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for key, h := range hosts.Drivers {
		wg.Go(func() {
			rows, err := scanHost(ctx, key, h, want, scope, env)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				scan.Failed = append(scan.Failed, HostFailure{Host: key, Error: err.Error()})
				return
			}
			scan.Volumes = append(scan.Volumes, rows...)
		})
	}
	wg.Wait()
	slices.SortFunc(scan.Volumes, func(a, b VolumeRow) int {
		return strings.Compare(a.Host+"\x00"+a.Name, b.Host+"\x00"+b.Name)
	})
	slices.SortFunc(scan.Failed, func(a, b HostFailure) int { return strings.Compare(a.Host, b.Host) })
	return scan
}

// scanHost lists one host's owned volumes of scope (and env) with their users.
func scanHost(ctx context.Context, key string, h drivers.Host, want *place.Desired, scope, env string) ([]VolumeRow, error) {
	vols, err := h.Volumes.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	desired := map[string][]string{}
	if wh := want.Host(key); wh != nil {
		for _, c := range wh.Containers {
			for _, m := range c.Mounts {
				desired[m.Volume] = append(desired[m.Volume], c.Name)
			}
		}
	}
	var mounted map[string][]string
	mountsErr := fmt.Errorf("host %s: its driver cannot tell which containers mount a volume", key)
	if vm, ok := h.Volumes.(drivers.VolumeMounts); ok {
		mounted, mountsErr = vm.MountedBy(ctx)
	}
	var rows []VolumeRow
	for _, v := range vols {
		l := v.Labels
		if l[drivers.LabelManaged] != "true" || l[drivers.LabelScope] != scope || (env != "" && l[drivers.LabelEnv] != env) {
			continue
		}
		row := VolumeRow{
			Host: key, Name: v.Name, Env: l[drivers.LabelEnv], Group: l[drivers.LabelGroup],
			Instance: l[drivers.LabelInstance], Volume: l[drivers.LabelVolume], Created: v.CreatedAt,
			EnvState: "removed", DesiredBy: sortedOrEmpty(desired[v.Name]),
		}
		if st, ok := want.Env(row.Env); ok {
			row.EnvState = string(st.State)
		}
		if mountsErr == nil {
			row.MountsKnown, row.MountedBy = true, sortedOrEmpty(mounted[v.Name])
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// sortedOrEmpty sorts s in place; nil becomes empty, so JSON shows [].
func sortedOrEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	slices.Sort(s)
	return s
}

// KeptVolume is a volume prune leaves, and why.
type KeptVolume struct {
	VolumeRow
	Why string `json:"why"`
}

// Prunable is the only policy that deletes data: it splits rows into the
// volumes prune may delete (older than age, mounted by no desired
// container and by no container on the host, and of an environment that
// is not active unless force) and those it keeps, each with why.
func Prunable(rows []VolumeRow, age time.Duration, now time.Time, force bool) (doomed []VolumeRow, kept []KeptVolume) {
	for _, v := range rows {
		var why string
		active := ""
		if v.EnvState == string(place.Active) {
			active = "environment is active and "
		}
		switch {
		case v.EnvState == string(place.Active) && !force:
			// A student's home stays until the course ends: a volume of an
			// active environment that nothing mounts is data placed
			// elsewhere, or a member who may come back.
			why = "environment is active: its data is kept until the environment ends (--force deletes it anyway)"
		case v.Created.IsZero():
			why = "the engine does not report its creation time"
		case now.Sub(v.Created) < age:
			why = "created " + v.Created.Local().Format(time.DateTime) + ", less than " + age.String() + " ago"
		case len(v.DesiredBy) > 0:
			why = active + "a desired container mounts it: " + strings.Join(v.DesiredBy, ", ")
		case !v.MountsKnown:
			why = active + "cannot tell whether a container mounts it"
		case len(v.MountedBy) > 0:
			why = active + "mounted by " + strings.Join(v.MountedBy, ", ")
		}
		if why != "" {
			kept = append(kept, KeptVolume{v, why})
			continue
		}
		doomed = append(doomed, v)
	}
	return doomed, kept
}

// DeleteVolumes deletes the volumes and reports each through done (nil
// error when deleted). The engine refuses to remove a volume a container
// uses, so one mounted since the scan is kept rather than broken. It
// returns the joined errors.
func DeleteVolumes(ctx context.Context, hosts *Hosts, vols []VolumeRow, done func(VolumeRow, error)) error {
	var errs []error
	for _, v := range vols {
		h, ok := hosts.Drivers[v.Host]
		err := fmt.Errorf("host %s is not connected", v.Host)
		if ok {
			err = h.Volumes.Delete(ctx, v.Name)
		}
		if err != nil {
			err = fmt.Errorf("volume %s on %s: %w", v.Name, v.Host, err)
			errs = append(errs, err)
		}
		if done != nil {
			done(v, err)
		}
	}
	return errors.Join(errs...)
}
