package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/schema"
)

func newValidate(g *globals) *cobra.Command {
	var cf configFlags
	var output string
	cmd := &cobra.Command{
		Use:   "validate [PATH]",
		Short: "Check a config repository: Jsonnet, schema, names, addresses, capacity",
		Long: `Validate evaluates every site and environment of the config repository at
PATH (or a Git revision of it with --ref), checks them against the schema and
places them, without contacting any host: now (or --at), and again at every
later moment an environment's active window opens, so that a semester
scheduled for next term cannot break the repository when it starts. Every
problem is reported in one run with its file and line. Exit 1 when there is
any.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, topo, want, err := cf.desire(args, g)
			if err == nil {
				err = placeAtOpenings(r, topo, &cf)
			}
			if output == "json" {
				return validateJSON(g, err)
			}
			if err != nil {
				return err
			}
			containers := 0
			for _, h := range want.Hosts {
				containers += len(h.Containers)
			}
			fmt.Fprintf(g.stdout, "%s: valid: %d sites, %d hosts, %d environments, %d containers placed\n",
				r.name, len(topo.Sites), len(want.Hosts), len(topo.Environments), containers)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// maxOpenings bounds how many future window openings validate places at.
const maxOpenings = 32

// placeAtOpenings places the topology at every future opening of an active
// window and returns the problems found only then, each saying when.
func placeAtOpenings(r repo, topo *schema.Topology, cf *configFlags) error {
	now, err := cf.now()
	if err != nil {
		return err
	}
	var opens []time.Time
	for _, e := range topo.Environments {
		if from, _, err := e.Active.Bounds(); err == nil && from.After(now) && !slices.Contains(opens, from) {
			opens = append(opens, from)
		}
	}
	slices.SortFunc(opens, func(a, b time.Time) int { return a.Compare(b) })
	var problems schema.Problems
	seen := map[string]bool{}
	for _, at := range opens[:min(len(opens), maxOpenings)] {
		_, err := place.Place(topo, place.Options{Now: at, Scope: cf.scope})
		ps, ok := err.(schema.Problems)
		if !ok {
			continue
		}
		for _, p := range ps {
			if !seen[p.Msg] {
				seen[p.Msg] = true
				p.Msg = "from " + at.Format(time.DateOnly) + ", when a window opens: " + p.Msg
				problems = append(problems, p)
			}
		}
	}
	if len(problems) > 0 {
		return configError{repo: r.name, err: problems.Err()}
	}
	return nil
}

func validateJSON(g *globals, err error) error {
	out := struct {
		Valid    bool            `json:"valid"`
		Problems schema.Problems `json:"problems"`
		Error    string          `json:"error,omitempty"`
	}{Valid: err == nil, Problems: schema.Problems{}}
	var ce configError
	if err != nil {
		if asConfig(err, &ce) {
			if ps, ok := ce.err.(schema.Problems); ok {
				out.Problems = ps
			} else {
				out.Error = ce.err.Error()
			}
		} else {
			out.Error = err.Error()
		}
	}
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	if encErr := enc.Encode(out); encErr != nil {
		return encErr
	}
	if err != nil {
		return exitError{code: 1}
	}
	return nil
}

func asConfig(err error, ce *configError) bool {
	c, ok := err.(configError)
	if ok {
		*ce = c
	}
	return ok
}
