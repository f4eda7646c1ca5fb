package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/render"
	"github.com/rensei-dev/rensei/schema"
)

func newPs(g *globals) *cobra.Command {
	var (
		cf     configFlags
		hf     hostFlags
		env    string
		site   string
		output string
	)
	cmd := &cobra.Command{
		Use:   "ps [PATH]",
		Short: "List every instance: where it runs, its state and addresses, and whether it matches the plan",
		Long: `Ps observes every host of the config repository and lists each instance:
its environment, group and member, site and host, state (running, exited,
missing, …), since when, its addresses on the environment's networks, and
whether it matches the plan. A desired instance without a container is
listed as missing; a container Rensei owns (in this --scope) that the
configuration no longer wants is listed too, with the plan's step for it.
Nothing is changed. Exit 1 when a host could not be observed; the others
are listed.`,
		Example: `  rensei ps ./config
  rensei ps ./config --env cs101-2027-spring --site campus
  rensei ps . -o json | jq '.instances[] | select(.matches | not)'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := render.CheckFormat(output, render.Text, render.JSON, render.YAML); err != nil {
				return err
			}
			ctx := cmd.Context()
			obs, err := observeInstances(ctx, &cf, args, g, &hf, site, true)
			if err != nil {
				return err
			}
			defer obs.close()
			list := obs.list
			if site != "" {
				list = list.Filter(func(i engine.Instance) bool { return i.Site == site })
			}
			if env != "" {
				list = list.Filter(func(i engine.Instance) bool { return i.Env == env })
				if err := knownEnv(env, obs.want, obs.list); err != nil {
					return err
				}
			}
			now := time.Now()
			if err := render.Write(g.stdout, output, list, func(w io.Writer) error { return render.Instances(w, list, now, colour(w)) }); err != nil {
				return err
			}
			return list.Err()
		},
	}
	cf.register(cmd)
	hf.register(cmd)
	cmd.Flags().StringVar(&env, "env", "", "only this environment's instances")
	cmd.Flags().StringVar(&site, "site", "", "only the instances on this site's hosts (only they are contacted)")
	cmd.Flags().StringVarP(&output, "output", "o", render.Text, "output format: text, json or yaml")
	return cmd
}

// observed is what ps, env, exec and logs learn from the hosts.
type observed struct {
	rev   *engine.Revision
	want  *place.Desired // placed with the hosts' pins, every host
	plan  plan.Plan
	list  engine.InstanceList
	hosts *engine.Hosts
	eng   *engine.Engines
}

func (o observed) close() {
	o.hosts.Close()
	o.eng.Close()
}

// observeInstances loads the configuration, connects its hosts (those of
// --hosts, or of site when given), observes and plans them, and lists
// their instances. Docker's own state of each container (exited, since
// when, …) is read only when describe is true. The caller closes it.
func observeInstances(ctx context.Context, cf *configFlags, args []string, g *globals, hf *hostFlags, site string, describe bool) (observed, error) {
	rev, want, err := cf.desire(ctx, args, g)
	if err != nil {
		return observed{}, err
	}
	if err := hf.check(rev.Topology); err != nil {
		return observed{}, err
	}
	only := hf.hosts
	if site != "" {
		if only, err = siteHosts(rev.Topology, site, hf.hosts); err != nil {
			return observed{}, err
		}
	}
	hosts, err := engine.Connect(rev.Topology, only, rev.Scope, g.logger())
	if err != nil {
		return observed{}, err
	}
	o := observed{rev: rev, hosts: hosts, eng: engine.NewEngines(rev.Topology)}
	o.list, o.plan, o.want = engine.Instances(ctx, want, hosts, cf.placer(rev))
	if !describe {
		return o, nil
	}
	if err := o.eng.Describe(ctx, &o.list); err != nil {
		fmt.Fprintf(g.stderr, "rensei: warning: container states not read: %v\n", err)
	}
	return o, nil
}

// siteHosts are the hosts of site (of those named in only, when given).
func siteHosts(topo *schema.Topology, site string, only []string) ([]string, error) {
	var names []string
	for _, s := range topo.Sites {
		names = append(names, s.Name)
		if s.Name != site {
			continue
		}
		var keys []string
		for _, h := range s.Hosts {
			key := s.Name + "/" + h.Name
			if len(only) == 0 || slices.Contains(only, key) || slices.Contains(only, h.Name) {
				keys = append(keys, key)
			}
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("--site %s: none of its hosts is in --hosts %s", site, joinOr(only, ""))
		}
		return keys, nil
	}
	return nil, fmt.Errorf("--site: unknown site %q: known sites are %s", site, joinOr(names, "none"))
}

// knownEnv returns an error when env is neither in the configuration nor
// on any host listed, naming the environments there are.
func knownEnv(env string, want *place.Desired, l engine.InstanceList) error {
	if _, ok := want.Env(env); ok {
		return nil
	}
	var names []string
	for _, e := range want.Environments {
		names = append(names, e.Name)
	}
	for _, i := range l.Instances {
		if i.Env == env {
			return nil
		}
		if !slices.Contains(names, i.Env) {
			names = append(names, i.Env)
		}
	}
	slices.Sort(names)
	return fmt.Errorf("--env: unknown environment %q: environments are %s", env, joinOr(names, "none"))
}
