package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/test/lab"
)

func newLab(g *globals) *cobra.Command {
	var (
		opts   lab.Options
		output string
		load   []string
	)
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Emulate several sites on this machine: a namespace and a dockerd per site",
		Long: `Lab builds N emulated sites on this machine (default 3, named site-a, site-b,
…): per site a network namespace rs-lab-<x> with its own dockerd and an
underlay address 198.18.0.<n> on a WAN bridge (in namespace rs-lab-wan), and
the image rensei/busybox:latest loaded into every site engine.
site-configs/lab.jsonnet describes these sites for a config repository.
stop and start power one site off and on, for outage drills.`,
	}
	cmd.PersistentFlags().IntVar(&opts.Sites, "sites", 0, "number of sites (default 3 for up; all present for status and down)")
	cmd.PersistentFlags().StringVar(&opts.Image, "image", "", "image loaded into every site (default rensei/busybox:latest)")
	up := &cobra.Command{
		Use:   "up",
		Short: "Create the lab, or repair it; running it twice is harmless",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Log = g.logger()
			return withLabLock(func() error {
				st, err := lab.Up(cmd.Context(), opts)
				if err != nil {
					return err
				}
				if len(load) > 0 {
					if err := lab.LoadImages(cmd.Context(), opts, load...); err != nil {
						return err
					}
				}
				return writeLab(g, st, output)
			})
		},
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "Remove everything lab up made",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Log = g.logger()
			if err := withLabLock(func() error { return lab.Down(cmd.Context(), opts) }); err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, "lab removed")
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "List each site: namespace, underlay, Docker endpoint, tunnels, containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Log = g.logger()
			st, err := lab.Observe(cmd.Context(), opts)
			if err != nil {
				return err
			}
			return writeLab(g, st, output)
		},
	}
	stop := &cobra.Command{
		Use:   "stop SITE",
		Short: "Power a site off: its dockerd, containerd and containers are killed at once",
		Long: `Stop cuts one site's power, as an outage would: its dockerd, containerd
and every container get SIGKILL at once. The namespace, the WAN link,
the container records and the data stay, so start brings the site back as
after a reboot (containers with a restart policy start again). Stopping a
stopped site is not an error. Unlike up and down, stop and start do not
wait for the lab lock: failing a site under a running test is what an
outage test does.`,
		Example: `  rensei lab stop site-b
  rensei lab start site-b`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Log = g.logger()
			if err := lab.StopSite(cmd.Context(), opts, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s powered off\n", args[0])
			return nil
		},
	}
	start := &cobra.Command{
		Use:   "start SITE",
		Short: "Power a site on again and wait until its engine answers",
		Long: `Start brings a site back after stop (or repairs its namespace, link and
dockerd as up does for that site) and waits until its engine answers.
Containers with a restart policy start again by themselves; the overlay
tunnels and anything else Rensei owns come back with the next pass
(rensei apply, or a running daemon).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Log = g.logger()
			if err := lab.StartSite(cmd.Context(), opts, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s powered on\n", args[0])
			return nil
		},
	}
	up.Flags().StringArrayVar(&load, "load", nil, "also copy this image from the machine's engine into every site (repeatable), e.g. rensei/notebook:latest; build it first with make images")
	for _, c := range []*cobra.Command{up, status} {
		c.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json or yaml")
	}
	cmd.AddCommand(up, down, status, stop, start)
	return cmd
}

// withLabLock runs f holding the lab lock, so up and down never pull the
// lab from under a running test.
func withLabLock(f func() error) error {
	unlock, err := lab.TryLock()
	if err != nil {
		return err
	}
	defer unlock()
	return f()
}

func writeLab(g *globals, st *lab.Status, output string) error {
	switch output {
	case "json":
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	case "text":
	default:
		return fmt.Errorf("--output %q: want text or json", output)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tNETNS\tUNDERLAY\tDOCKER\tUP\tTUNNELS\tCONTAINERS")
	for _, s := range st.Sites {
		up := "yes"
		if !s.Up {
			up = "no: " + s.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", s.Name, s.Netns, s.Underlay, s.Docker, up, joinOr(s.Tunnels, "-"), len(s.Containers))
	}
	if len(st.Sites) == 0 {
		fmt.Fprintln(tw, "(no lab sites)\t\t\t\t\t\t")
	}
	return tw.Flush()
}
