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
site-configs/lab.jsonnet describes these sites for a config repository.`,
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
	up.Flags().StringArrayVar(&load, "load", nil, "also copy this image from the machine's engine into every site (repeatable), e.g. rensei/notebook:latest; build it first with make images")
	for _, c := range []*cobra.Command{up, status} {
		c.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json or yaml")
	}
	cmd.AddCommand(up, down, status)
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
