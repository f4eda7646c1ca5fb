package main

import (
	"context"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/engine"
)

// completionTimeout bounds each file's evaluation while a shell waits for
// completions.
const completionTimeout = 5 * time.Second

// registerCompletions attaches dynamic shell completion to every command
// of the tree that has the flags it knows: --env (environment names),
// --hosts (site/host keys and host names) and --site (site names). The
// values come from the config repository the command would read. Cobra's
// own "completion" command writes the bash, zsh, fish and PowerShell
// scripts that call them.
func registerCompletions(root *cobra.Command) {
	byFlag := map[string]cobra.CompletionFunc{
		"env":   completeEnvs,
		"hosts": completeHosts,
		"site":  completeSites,
	}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for name, fn := range byFlag {
			if c.Flags().Lookup(name) != nil {
				// The only error is a second registration, which this
				// walk never makes.
				_ = c.RegisterFlagCompletionFunc(name, fn)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// completeEnvs completes environment names, described by their owner.
func completeEnvs(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	rev := completionRevision(cmd, args)
	if rev == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, e := range rev.Topology.Environments {
		if strings.HasPrefix(e.Name, toComplete) {
			out = append(out, cobra.CompletionWithDesc(e.Name, e.Owner))
		}
	}
	return sortedCompletions(out), cobra.ShellCompDirectiveNoFileComp
}

// completeSites completes site names.
func completeSites(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	rev := completionRevision(cmd, args)
	if rev == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, s := range rev.Topology.Sites {
		if strings.HasPrefix(s.Name, toComplete) {
			out = append(out, s.Name)
		}
	}
	return sortedCompletions(out), cobra.ShellCompDirectiveNoFileComp
}

// completeHosts completes the comma-separated list of --hosts: site/host
// keys, described by their Docker endpoint. Hosts already in the list are
// not offered again.
func completeHosts(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	rev := completionRevision(cmd, args)
	if rev == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	done, partial := "", toComplete
	if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
		done, partial = toComplete[:i+1], toComplete[i+1:]
	}
	chosen := strings.Split(done, ",")
	var out []cobra.Completion
	for _, s := range rev.Topology.Sites {
		for _, h := range s.Hosts {
			key := s.Name + "/" + h.Name
			if strings.HasPrefix(key, partial) && !slices.Contains(chosen, key) {
				out = append(out, cobra.CompletionWithDesc(done+key, h.Docker))
			}
		}
	}
	return sortedCompletions(out), cobra.ShellCompDirectiveNoFileComp
}

// completeInstances completes an ENV/GROUP/MEMBER argument from the
// desired state placed now: first the environments (ENV/), then their
// groups (ENV/GROUP/), then the instances, so that a large course does
// not flood the shell. Only instances that exist now are offered
// (environments outside their active window have none). The config
// repository is read as for flags (completionRevision): PATH is the
// first argument, so attach it as the ValidArgsFunction of a command
// whose ENV/GROUP/MEMBER is its first argument or follows PATH.
func completeInstances(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	rev := completionRevision(cmd, args)
	if rev == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	want, err := rev.At(time.Now().UTC())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	depth := strings.Count(toComplete, "/")
	seen := map[string]bool{}
	var out []cobra.Completion
	for _, h := range want.Hosts {
		for _, c := range h.Containers {
			parts := []string{c.Labels[drivers.LabelEnv], c.Labels[drivers.LabelGroup], c.Labels[drivers.LabelInstance]}
			if slices.Contains(parts, "") {
				continue
			}
			cand := strings.Join(parts, "/")
			if depth < 2 {
				cand = strings.Join(parts[:depth+1], "/") + "/"
			}
			if !seen[cand] && strings.HasPrefix(cand, toComplete) {
				seen[cand] = true
				desc := ""
				if depth >= 2 {
					desc = h.Key
				}
				out = append(out, cobra.CompletionWithDesc(cand, desc))
			}
		}
	}
	directive := cobra.ShellCompDirectiveNoFileComp
	if depth < 2 && len(out) > 0 {
		directive |= cobra.ShellCompDirectiveNoSpace
	}
	return sortedCompletions(out), directive
}

// completionRevision loads the config repository the command being
// completed names, the way the command would, and returns nil on any
// problem: completion never prints errors. The repository is --repo
// (a local path, at --branch) for commands that take a remote, else PATH,
// the first argument, else the current directory (or the embedded
// quickstart when it has no sites/ either); --ref, --tla-str and
// --tla-code are honoured when the command has them.
func completionRevision(cmd *cobra.Command, args []string) (rev *engine.Revision) {
	defer func() {
		if recover() != nil {
			rev = nil
		}
	}()
	f := cmd.Flags()
	cf := configFlags{timeout: completionTimeout}
	// Flags the command lacks leave their zero value: the errors say only that.
	cf.ref, _ = f.GetString("ref")
	cf.tlaStr, _ = f.GetStringArray("tla-str")
	cf.tlaCode, _ = f.GetStringArray("tla-code")
	if t, err := f.GetDuration("eval-timeout"); err == nil && t > 0 && t < cf.timeout {
		cf.timeout = t
	}
	var path []string
	if len(args) > 0 {
		path = args[:1]
	}
	if repo, _ := f.GetString("repo"); repo != "" {
		if st, err := os.Stat(repo); err != nil || !st.IsDir() {
			return nil // a URL: completion does not fetch
		}
		path = []string{repo}
		cf.ref, _ = f.GetString("branch")
		if cf.ref == "" {
			cf.ref = "main"
		}
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	quiet := &globals{logLevel: "error", logFormat: "text", stdout: io.Discard, stderr: io.Discard}
	rev, err := cf.load(ctx, path, quiet)
	if err != nil {
		return nil
	}
	return rev
}

func sortedCompletions(c []cobra.Completion) []cobra.Completion {
	slices.Sort(c)
	return slices.Compact(c)
}
