package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/render"
)

func newEnv(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Environment-centric status: window, instances per site, drift, last applied commit, problems",
		Long: `Env looks at the configuration and the hosts one environment at a time:
whether its active window is open (active), has not opened yet
(scheduled) or has ended, how many of its instances are desired and
running on each site, what apply would change for it now (drift), the
config commit its containers were made from (their io.rensei.commit
label), and what is wrong (hosts down, instances missing or stopped,
blocked steps). Environments that left the configuration but still have
containers on a host are listed as removed. Nothing is changed.`,
	}
	cmd.AddCommand(newEnvList(g), newEnvShow(g))
	return cmd
}

func newEnvList(g *globals) *cobra.Command {
	var (
		cf     configFlags
		hf     hostFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "list [PATH]",
		Short: "List every environment with its state, instances, drift, commit and problems",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := render.CheckFormat(output, render.Text, render.JSON, render.YAML); err != nil {
				return err
			}
			obs, err := observeInstances(cmd.Context(), &cf, args, g, &hf, "", true)
			if err != nil {
				return err
			}
			defer obs.close()
			envs := engine.Environments(obs.rev.Topology, obs.want, obs.list, obs.plan)
			now := time.Now()
			if err := render.Write(g.stdout, output, envs, func(w io.Writer) error { return render.Envs(w, envs, now) }); err != nil {
				return err
			}
			return obs.list.Err()
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", render.Text, "output format: text, json or yaml")
	return cmd
}

func newEnvShow(g *globals) *cobra.Command {
	var (
		cf     configFlags
		hf     hostFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "show [PATH] ENV",
		Short: "Show one environment in detail",
		Args:  cobra.RangeArgs(1, 2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return completeEnvs(cmd, args, toComplete)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := render.CheckFormat(output, render.Text, render.JSON, render.YAML); err != nil {
				return err
			}
			path, name := args[:0], args[0]
			if len(args) == 2 {
				path, name = args[:1], args[1]
			}
			obs, err := observeInstances(cmd.Context(), &cf, path, g, &hf, "", true)
			if err != nil {
				return err
			}
			defer obs.close()
			envs := engine.Environments(obs.rev.Topology, obs.want, obs.list, obs.plan)
			i := slices.IndexFunc(envs, func(v engine.EnvView) bool { return v.Name == name })
			if i < 0 {
				var names []string
				for _, v := range envs {
					names = append(names, v.Name)
				}
				return fmt.Errorf("no environment %q in the configuration or on the hosts: environments are %s", name, joinOr(names, "none"))
			}
			v, now := envs[i], time.Now()
			if err := render.Write(g.stdout, output, v, func(w io.Writer) error { return render.Env(w, v, now, colour(w)) }); err != nil {
				return err
			}
			return obs.list.Err()
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", render.Text, "output format: text, json or yaml")
	return cmd
}
