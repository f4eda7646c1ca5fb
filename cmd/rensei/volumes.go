package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/render"
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
			if err := render.CheckFormat(output, render.Text, render.JSON, render.YAML); err != nil {
				return err
			}
			_, want, hosts, err := cf.connect(cmd.Context(), args, g, &hf)
			if err != nil {
				return err
			}
			defer hosts.Close()
			scan := engine.ScanVolumes(cmd.Context(), want, hosts, env)
			if err := render.Write(g.stdout, output, scan, func(w io.Writer) error { return render.Volumes(w, scan.Volumes) }); err != nil {
				return err
			}
			return scan.Err()
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	cmd.Flags().StringVar(&env, "env", "", "only volumes of this environment")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json or yaml")
	return cmd
}

func newVolumesPrune(g *globals) *cobra.Command {
	var (
		cf        configFlags
		hf        hostFlags
		env       string
		olderThan string
		yes       bool
		force     bool
	)
	cmd := &cobra.Command{
		Use:   "prune [PATH] --env NAME --older-than DURATION",
		Short: "Delete an environment's old volumes that nothing uses, and their data",
		Long: `Prune deletes the volumes Rensei owns of one environment that are older than
--older-than (e.g. 720h, 30d), that no desired container mounts (at --at)
and that no container on the host, running or not, mounts. Volumes of an
environment that is still active are kept, and prune says so: a student's
home stays until the course ends, even when they left it or their
instance was placed elsewhere. --force deletes those too (on the same
conditions: never a mounted one). It shows what it will delete and
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
			ctx := cmd.Context()
			_, want, hosts, err := cf.connect(ctx, args, g, &hf)
			if err != nil {
				return err
			}
			defer hosts.Close()
			scan := engine.ScanVolumes(ctx, want, hosts, env)
			doomed, kept := engine.Prunable(scan.Volumes, age, time.Now(), force)
			render.PrunePlan(g.stdout, doomed, kept)
			if len(doomed) == 0 {
				fmt.Fprintln(g.stdout, "Nothing to delete.")
				return scan.Err()
			}
			if !yes {
				if !isTerminal(cmd.InOrStdin()) {
					return fmt.Errorf("standard input is not a terminal: pass --yes to delete %d volume(s) unattended; nothing was deleted", len(doomed))
				}
				fmt.Fprintf(g.stdout, "Delete %d volume(s) and all their data? Only 'yes' is accepted: ", len(doomed))
				line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if strings.TrimSpace(line) != "yes" {
					return errors.New("prune cancelled: nothing was deleted")
				}
			}
			deleted := 0
			err = engine.DeleteVolumes(ctx, hosts, doomed, func(v engine.VolumeRow, err error) {
				if err != nil {
					fmt.Fprintf(g.stdout, "  failed: %s %s: %v\n", v.Host, v.Name, err)
					return
				}
				deleted++
				fmt.Fprintf(g.stdout, "  deleted: %s %s\n", v.Host, v.Name)
			})
			fmt.Fprintf(g.stdout, "Deleted %d volume(s), %d failed.\n", deleted, len(doomed)-deleted)
			return errors.Join(err, scan.Err())
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	cmd.Flags().StringVar(&env, "env", "", "the environment whose volumes are pruned (required)")
	cmd.Flags().StringVar(&olderThan, "older-than", "", "only volumes created longer ago than this: a Go duration (720h) or days (30d) (required)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking")
	cmd.Flags().BoolVar(&force, "force", false, "also delete unused volumes of an environment that is still active")
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
