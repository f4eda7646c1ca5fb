package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/schema"
)

func newLogs(g *globals) *cobra.Command {
	var (
		cf         configFlags
		hf         hostFlags
		follow     bool
		since      string
		tail       int
		timestamps bool
	)
	cmd := &cobra.Command{
		Use:   "logs [PATH] ENV/GROUP/MEMBER",
		Short: "Show an instance's log, wherever placement put it",
		Long: `Logs finds the instance ENV/GROUP/MEMBER (ENV/GROUP for a group of one)
through placement and the hosts' live state, and prints what its
container wrote to standard output and error (to rensei's own), read
through its host's Docker engine as docker logs does. -f follows the log
until the container stops or rensei is interrupted.

A stopped container's log is shown too, after a note on standard error
that says its state (a crash is what one reads logs for). An unknown
instance, or one without a container, is an error that names it and says
why (close matches, its state and host).`,
		Example: `  rensei logs ./config cs101-2027-spring/student/s001 --tail 50
  rensei logs hello/web/0 -f --since 10m`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeInstances,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, refArg := args[:0], args[0]
			if len(args) == 2 {
				path, refArg = args[:1], args[1]
			}
			ref, err := engine.ParseInstanceRef(refArg)
			if err != nil {
				return err
			}
			o := engine.LogOptions{Follow: follow, Timestamps: timestamps, Tail: "all"}
			if tail < -1 {
				return fmt.Errorf("--tail %d: want a number of lines, or -1 for all", tail)
			}
			if tail >= 0 {
				o.Tail = strconv.Itoa(tail)
			}
			if since != "" {
				t, err := sinceTime(since, time.Now())
				if err != nil {
					return err
				}
				o.Since = strconv.FormatInt(t.Unix(), 10)
			}
			ctx := cmd.Context()
			inst, obs, err := findInstance(ctx, &cf, path, g, &hf, ref)
			if err != nil {
				return err
			}
			defer obs.close()
			switch {
			case inst.ID == "":
				return inst.CheckRunning()
			case !inst.Running():
				fmt.Fprintf(g.stderr, "rensei: instance %s on %s is %s; its log:\n", inst.Ref(), inst.Host, inst.Describe())
			}
			return obs.eng.Logs(ctx, inst, o, g.stdout, g.stderr)
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new output until the container stops or rensei is interrupted")
	f.StringVar(&since, "since", "", "only output since a duration ago (10m, 2h, 3d) or a time (RFC 3339 or YYYY-MM-DD)")
	f.IntVar(&tail, "tail", -1, "only the last N lines (-1: all)")
	f.BoolVarP(&timestamps, "timestamps", "t", false, "prefix each line with the time it was written")
	return cmd
}

// sinceTime parses --since: a duration before now (Go's, or whole days
// such as 3d) or a time.
func sinceTime(s string, now time.Time) (time.Time, error) {
	if d, err := parseAge(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := schema.ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: want a duration (10m, 2h, 3d) or a time (RFC 3339 or YYYY-MM-DD)", s)
	}
	return t, nil
}
