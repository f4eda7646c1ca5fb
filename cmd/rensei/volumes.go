package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile"
	"github.com/rensei-dev/rensei/reconcile/place"
)

func newVolumes(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "volumes",
		Short: "List the volumes Rensei owns; delete old, unused ones (the only way data is deleted)",
		Long: `Volumes keep student homes and other data when containers go: apply and the
daemon never delete them. These commands look at the volumes Rensei owns
(label io.rensei.managed=true, of this --scope) on every host of the config
repository at PATH. Volumes without Rensei's labels are never listed or
touched.`,
	}
	cmd.AddCommand(newVolumesList(g), newVolumesPrune(g))
	return cmd
}

// volumeRow is one owned volume on one host, with who uses it.
type volumeRow struct {
	Host     string    `json:"host"`
	Name     string    `json:"name"`
	Env      string    `json:"env"`
	Group    string    `json:"group,omitempty"`
	Instance string    `json:"instance,omitempty"`
	Volume   string    `json:"volume,omitempty"`
	Created  time.Time `json:"created,omitzero"`
	// EnvState is the environment's state at --at: active, scheduled,
	// ended, or removed (no longer in the configuration).
	EnvState string `json:"envState"`
	// DesiredBy lists the desired containers (at --at) that mount it.
	DesiredBy []string `json:"desiredBy"`
	// MountedBy lists the containers on the host, running or not, owned or
	// not, that mount it; nil with MountsKnown false when the engine could
	// not be asked.
	MountedBy   []string `json:"mountedBy"`
	MountsKnown bool     `json:"mountsKnown"`
}

// hostFailure is a host whose volumes could not be listed.
type hostFailure struct {
	Host  string `json:"host"`
	Error string `json:"error"`
}

// volumeScan is what every host holds, sorted by host and name.
type volumeScan struct {
	Volumes []volumeRow   `json:"volumes"`
	Failed  []hostFailure `json:"failed"`

	drivers map[string]drivers.Host
}

func newVolumesList(g *globals) *cobra.Command {
	var (
		cf     configFlags
		hf     hostFlags
		env    string
		output string
	)
	cmd := &cobra.Command{
		Use:   "list [PATH]",
		Short: "List owned volumes: environment, group, instance, age, and who mounts them",
		Long: `List shows every volume Rensei owns on every host of the config repository:
its environment (and that environment's state at --at), group, instance,
creation time, the desired containers that mount it, and the containers on
the host (running or not) that mount it now. Exit 1 when a host could not
be listed; the others are shown.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			_, want, hosts, err := connectDesired(args, g, &cf, &hf)
			if err != nil {
				return err
			}
			defer hosts.Close()
			scan := scanVolumes(cmd.Context(), want, hosts, cf.scope, env)
			if output == "json" {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(scan); err != nil {
					return err
				}
			} else if err := writeVolumes(g.stdout, scan.Volumes); err != nil {
				return err
			}
			return scan.err()
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	cmd.Flags().StringVar(&env, "env", "", "only volumes of this environment")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func newVolumesPrune(g *globals) *cobra.Command {
	var (
		cf        configFlags
		hf        hostFlags
		env       string
		olderThan string
		yes       bool
	)
	cmd := &cobra.Command{
		Use:   "prune [PATH] --env NAME --older-than DURATION",
		Short: "Delete an environment's old volumes that nothing uses, and their data",
		Long: `Prune deletes the volumes Rensei owns of one environment that are older than
--older-than (e.g. 720h, 30d), that no desired container mounts (at --at)
and that no container on the host, running or not, mounts. Volumes of an
environment that is still active are deleted only on those conditions too:
a member who left a running course, say. It shows what it will delete and
what it keeps (and why), then asks for 'yes' on the terminal unless --yes
is given; without a terminal and without --yes it refuses and deletes
nothing. Unlisted hosts are reported and skipped.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if env == "" {
				return errors.New("--env is required: prune deletes the volumes of one environment")
			}
			if olderThan == "" {
				return errors.New("--older-than is required (e.g. 720h or 30d; 0s for any age)")
			}
			age, err := parseAge(olderThan)
			if err != nil {
				return fmt.Errorf("--older-than %q: %w", olderThan, err)
			}
			_, want, hosts, err := connectDesired(args, g, &cf, &hf)
			if err != nil {
				return err
			}
			defer hosts.Close()
			ctx := cmd.Context()
			scan := scanVolumes(ctx, want, hosts, cf.scope, env)
			doomed, kept := prunable(scan.Volumes, age, time.Now())
			writePrunePlan(g.stdout, doomed, kept)
			if len(doomed) == 0 {
				fmt.Fprintln(g.stdout, "Nothing to delete.")
				return scan.err()
			}
			if !yes {
				if !isTerminalReader(cmd.InOrStdin()) {
					return fmt.Errorf("standard input is not a terminal: pass --yes to delete %d volume(s) unattended; nothing was deleted", len(doomed))
				}
				fmt.Fprintf(g.stdout, "Delete %d volume(s) and all their data? Only 'yes' is accepted: ", len(doomed))
				line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if strings.TrimSpace(line) != "yes" {
					return errors.New("prune cancelled: nothing was deleted")
				}
			}
			var errs []error
			deleted := 0
			for _, v := range doomed {
				// The engine refuses to remove a volume a container uses, so
				// one mounted since the scan is kept rather than broken.
				if err := scan.drivers[v.Host].Volumes.Delete(ctx, v.Name); err != nil {
					errs = append(errs, fmt.Errorf("volume %s on %s: %w", v.Name, v.Host, err))
					fmt.Fprintf(g.stdout, "  failed: %s %s: %v\n", v.Host, v.Name, err)
					continue
				}
				deleted++
				fmt.Fprintf(g.stdout, "  deleted: %s %s\n", v.Host, v.Name)
			}
			fmt.Fprintf(g.stdout, "Deleted %d volume(s), %d failed.\n", deleted, len(errs))
			if err := scan.err(); err != nil {
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	cmd.Flags().StringVar(&env, "env", "", "the environment whose volumes are pruned (required)")
	cmd.Flags().StringVar(&olderThan, "older-than", "", "only volumes created longer ago than this: a Go duration (720h) or days (30d) (required)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking")
	return cmd
}

// parseAge parses a Go duration or a whole number of days ("30d").
func parseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, errors.New("want a duration such as 720h or 30d")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("want a duration such as 720h or 30d")
	}
	return d, nil
}

// scanVolumes lists the owned volumes of scope (and of env, when given) on
// every connected host in parallel, with the containers that mount them.
func scanVolumes(ctx context.Context, want *place.Desired, hosts *reconcile.Hosts, scope, env string) volumeScan {
	scan := volumeScan{Volumes: []volumeRow{}, Failed: []hostFailure{}, drivers: hosts.Drivers}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for key, h := range hosts.Drivers {
		wg.Go(func() {
			rows, err := scanHost(ctx, key, h, want, scope, env)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				scan.Failed = append(scan.Failed, hostFailure{Host: key, Error: err.Error()})
				return
			}
			scan.Volumes = append(scan.Volumes, rows...)
		})
	}
	wg.Wait()
	slices.SortFunc(scan.Volumes, func(a, b volumeRow) int {
		return strings.Compare(a.Host+"\x00"+a.Name, b.Host+"\x00"+b.Name)
	})
	slices.SortFunc(scan.Failed, func(a, b hostFailure) int { return strings.Compare(a.Host, b.Host) })
	return scan
}

// scanHost lists one host's owned volumes of scope (and env) with their users.
func scanHost(ctx context.Context, key string, h drivers.Host, want *place.Desired, scope, env string) ([]volumeRow, error) {
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
	var rows []volumeRow
	for _, v := range vols {
		l := v.Labels
		if l[drivers.LabelManaged] != "true" || l[drivers.LabelScope] != scope || (env != "" && l[drivers.LabelEnv] != env) {
			continue
		}
		row := volumeRow{
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

// err reports the hosts that could not be listed.
func (s volumeScan) err() error {
	if len(s.Failed) == 0 {
		return nil
	}
	parts := make([]string, len(s.Failed))
	for i, f := range s.Failed {
		parts[i] = f.Host + ": " + f.Error
	}
	return fmt.Errorf("volumes not listed on %d host(s): %s", len(s.Failed), strings.Join(parts, "; "))
}

// keptVolume is a volume prune leaves, and why.
type keptVolume struct {
	volumeRow
	Why string
}

// prunable splits rows into those prune deletes and those it keeps.
func prunable(rows []volumeRow, age time.Duration, now time.Time) (doomed []volumeRow, kept []keptVolume) {
	for _, v := range rows {
		var why string
		active := ""
		if v.EnvState == string(place.Active) {
			active = "environment is active and "
		}
		switch {
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
			kept = append(kept, keptVolume{v, why})
			continue
		}
		doomed = append(doomed, v)
	}
	return doomed, kept
}

// writePrunePlan prints what prune keeps (and why) and what it deletes.
func writePrunePlan(w io.Writer, doomed []volumeRow, kept []keptVolume) {
	for _, v := range kept {
		fmt.Fprintf(w, "  = keep   %s %s: %s\n", v.Host, v.Name, v.Why)
	}
	for _, v := range doomed {
		fmt.Fprintf(w, "  - delete %s %s: created %s, environment %s, unused\n", v.Host, v.Name, volumeCreated(v.Created), v.EnvState)
	}
}

// writeVolumes prints rows as a table.
func writeVolumes(w io.Writer, rows []volumeRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tVOLUME\tENV\tSTATE\tGROUP\tINSTANCE\tCREATED\tDESIRED\tMOUNTED BY")
	for _, v := range rows {
		desired := "no"
		if len(v.DesiredBy) > 0 {
			desired = "yes"
		}
		mountedBy := "?"
		if v.MountsKnown {
			mountedBy = joinOr(v.MountedBy, "-")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Host, v.Name, v.Env, v.EnvState,
			volumeField(v.Group), volumeField(v.Instance), volumeCreated(v.Created), desired, mountedBy)
	}
	if len(rows) == 0 {
		fmt.Fprintln(tw, "(no owned volumes)\t\t\t\t\t\t\t\t")
	}
	return tw.Flush()
}

// volumeCreated renders a creation time in local time, "?" when unknown.
func volumeCreated(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.Local().Format(time.DateTime)
}

// volumeField renders an empty label value as "-".
func volumeField(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// isTerminalReader reports whether r is a terminal (a character device).
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
