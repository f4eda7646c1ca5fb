package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/drivers"
)

// hostRow is what `rensei hosts` shows of one host.
type hostRow struct {
	Host     string             `json:"host"`
	Docker   string             `json:"docker"`
	Underlay string             `json:"underlay,omitempty"`
	Netns    string             `json:"netns,omitempty"`
	Status   drivers.HostStatus `json:"status"`
}

func newHosts(g *globals) *cobra.Command {
	var (
		cf     configFlags
		hf     hostFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "hosts [PATH]",
		Short: "Probe every host: Docker engine and version, underlay address, VXLAN",
		Long: `Hosts probes every host of the config repository: whether its Docker
engine answers and its version, whether its underlay address is configured
(in its network namespace when it declares one) and whether the kernel can
make VXLAN devices. Nothing is changed. Exit 1 when a host is unreachable.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			topo, _, hosts, err := connectDesired(args, g, &cf, &hf)
			if err != nil {
				return err
			}
			defer hosts.Close()
			var rows []hostRow
			for _, s := range topo.Sites {
				for _, h := range s.Hosts {
					key := s.Name + "/" + h.Name
					if _, ok := hosts.Drivers[key]; ok {
						rows = append(rows, hostRow{Host: key, Docker: h.Docker, Underlay: h.Underlay, Netns: h.Netns})
					}
				}
			}
			probeAll(cmd.Context(), rows, hosts.Drivers)
			if err := writeHosts(g, rows, output); err != nil {
				return err
			}
			var down []string
			for _, r := range rows {
				if !r.Status.Reachable {
					down = append(down, r.Host)
				}
			}
			if len(down) > 0 {
				return fmt.Errorf("unreachable: %s", joinOr(down, ""))
			}
			return nil
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// probeAll probes the hosts in parallel, filling each row's status.
func probeAll(ctx context.Context, rows []hostRow, hosts map[string]drivers.Host) {
	var wg sync.WaitGroup
	for i := range rows {
		h := hosts[rows[i].Host]
		if h.Probe == nil {
			rows[i].Status = drivers.HostStatus{Reachable: true}
			continue
		}
		wg.Go(func() { rows[i].Status = h.Probe(ctx) })
	}
	wg.Wait()
	sort.Slice(rows, func(i, j int) bool { return rows[i].Host < rows[j].Host })
}

func writeHosts(g *globals, rows []hostRow, output string) error {
	if output == "json" {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	yesNo := func(b bool, unknown bool) string {
		switch {
		case unknown:
			return "-"
		case b:
			return "yes"
		}
		return "no"
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tDOCKER\tVERSION\tUNDERLAY\tPRESENT\tVXLAN\tERROR")
	for _, r := range rows {
		st := r.Status
		noNet := !st.Reachable || r.Underlay == ""
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Host, r.Docker, orDash(st.DockerVersion), orDash(r.Underlay),
			yesNo(st.UnderlayFound, noNet), yesNo(st.VXLAN, noNet), orDash(st.Error))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
