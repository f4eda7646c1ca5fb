package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

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
places them, without contacting any host. Every problem is reported in one
run with its file and line. Exit 1 when there is any.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, topo, want, err := cf.desire(args, g)
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
