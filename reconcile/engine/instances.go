package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// Instance states besides Docker's own (created, running, paused,
// restarting, removing, exited, dead), which Engines.Describe fills in.
const (
	// StateMissing: the instance is desired and its host has no container.
	StateMissing = "missing"
	// StateUnreachable: its host could not be observed.
	StateUnreachable = "unreachable"
	// StateRunning and StateStopped are what the drivers' list tells.
	StateRunning = "running"
	StateStopped = "stopped"
)

// Address is an instance's address on one network.
type Address struct {
	// Network is the environment's network ("lan"); Docker's own name
	// ("<env>_lan") when the container is not the environment's.
	Network string `json:"network"`
	IPv4    string `json:"ipv4"`
}

// Instance is one instance of a group on one host: desired (and live or
// missing), or live and owned but not desired, with what the plan does
// to it.
type Instance struct {
	Env       string `json:"env"`
	Group     string `json:"group"`
	Member    string `json:"member"`
	Site      string `json:"site"`
	Host      string `json:"host"` // "site/host"
	Container string `json:"container"`
	ID        string `json:"id,omitempty"`
	Image     string `json:"image,omitempty"`
	// State is Docker's state of the container, or StateMissing,
	// StateUnreachable; StateStopped until Describe says more.
	State    string `json:"state"`
	ExitCode int    `json:"exitCode,omitempty"`
	// Since is when the container entered its state (started, finished);
	// zero when unknown.
	Since     time.Time `json:"since,omitzero"`
	Created   time.Time `json:"created,omitzero"`
	Addresses []Address `json:"addresses"`
	HostPorts []string  `json:"hostPorts,omitempty"`
	// Commit is the io.rensei.commit label: the config commit it was made from.
	Commit  string `json:"commit,omitempty"`
	Desired bool   `json:"desired"`
	// Matches: the plan has nothing to do for it. Otherwise Action, Code
	// and Reason are the plan's step for it.
	Matches bool          `json:"matches"`
	Action  change.Action `json:"action,omitempty"`
	Code    change.Code   `json:"code,omitempty"`
	Reason  string        `json:"reason,omitempty"`
	// Error is why its host could not be observed.
	Error string `json:"error,omitempty"`
}

// Ref names the instance "env/group/member".
func (i Instance) Ref() string { return i.Env + "/" + i.Group + "/" + i.Member }

// Running reports whether its container runs.
func (i Instance) Running() bool { return i.State == StateRunning }

// InstanceList is every instance on the observed hosts.
type InstanceList struct {
	Instances   []Instance         `json:"instances"`
	Unreachable []plan.Unreachable `json:"unreachable,omitempty"`
}

// Err names the hosts that could not be observed, or is nil.
func (l InstanceList) Err() error {
	if len(l.Unreachable) == 0 {
		return nil
	}
	var parts []string
	for _, u := range l.Unreachable {
		parts = append(parts, u.Host+": "+u.Error)
	}
	return fmt.Errorf("unreachable, not listed: %s", strings.Join(parts, "; "))
}

// Filter keeps the instances for which keep is true.
func (l InstanceList) Filter(keep func(Instance) bool) InstanceList {
	out := InstanceList{Instances: []Instance{}, Unreachable: l.Unreachable}
	for _, i := range l.Instances {
		if keep(i) {
			out.Instances = append(out.Instances, i)
		}
	}
	return out
}

// Instances observes the connected hosts, places want again with their
// pins when replace is set (as a pass would), plans, and lists every
// instance with what the plan does to it. It changes nothing. It also
// returns the plan and the desired state (all hosts) it was made from.
func Instances(ctx context.Context, want *place.Desired, hosts *Hosts, replace Placer) (InstanceList, plan.Plan, *place.Desired) {
	p, obs, settled := Plan(ctx, want, hosts, replace)
	return ListInstances(hosts.Only(settled), obs, p), p, settled
}

// ListInstances lists every container want places on the observed hosts
// (live or missing) and every owned container there that want does not
// place, each with the step of p about it. It is pure; the result is
// sorted by environment, group, member and host.
func ListInstances(want *place.Desired, obs plan.Observed, p plan.Plan) InstanceList {
	out := InstanceList{Instances: []Instance{}, Unreachable: p.Unreachable}
	steps := containerSteps(p)
	sites := map[string]string{}
	for _, h := range want.Hosts {
		sites[h.Key] = h.Site
	}
	for _, h := range want.Hosts {
		st, observed := obs[h.Key]
		if !observed {
			continue
		}
		live := map[string]drivers.Container{}
		for _, c := range st.Containers {
			live[c.Name] = c
		}
		for _, c := range h.Containers {
			i := fromLabels(c.Labels, c.Name)
			i.Site, i.Host, i.Container, i.Image, i.Desired = h.Site, h.Key, c.Name, c.Image, true
			switch lc, ok := live[c.Name]; {
			case st.Err != nil:
				i.State, i.Error = StateUnreachable, st.Err.Error()
			case ok:
				fillLive(&i, lc)
				delete(live, c.Name)
			default:
				i.State = StateMissing
			}
			withStep(&i, steps, st.Err == nil)
			out.Instances = append(out.Instances, i)
		}
		for _, lc := range live {
			i := fromLabels(lc.Labels, lc.Name)
			i.Site, i.Host, i.Container = h.Site, h.Key, lc.Name
			fillLive(&i, lc)
			withStep(&i, steps, true)
			out.Instances = append(out.Instances, i)
		}
	}
	slices.SortFunc(out.Instances, func(a, b Instance) int {
		return strings.Compare(a.Env+"\x00"+a.Group+"\x00"+a.Member+"\x00"+a.Host, b.Env+"\x00"+b.Group+"\x00"+b.Member+"\x00"+b.Host)
	})
	return out
}

// fromLabels names an instance from its container's labels; a container
// without them is named by its Docker name.
func fromLabels(l map[string]string, name string) Instance {
	i := Instance{Env: l[drivers.LabelEnv], Group: l[drivers.LabelGroup], Member: l[drivers.LabelInstance], Commit: l[drivers.LabelCommit], Addresses: []Address{}}
	if i.Member == "" {
		i.Member = name
	}
	return i
}

// fillLive copies what the drivers listed of a live container.
func fillLive(i *Instance, c drivers.Container) {
	i.ID, i.Image, i.Commit = c.ID, c.Image, c.Labels[drivers.LabelCommit]
	i.State = StateStopped
	if c.Running {
		i.State = StateRunning
	}
	prefix := i.Env + "_"
	for _, n := range slices.Sorted(maps.Keys(c.Networks)) {
		if ip := c.Networks[n]; ip != "" {
			i.Addresses = append(i.Addresses, Address{Network: strings.TrimPrefix(n, prefix), IPv4: ip})
		}
	}
	i.HostPorts = c.HostPorts
}

// containerSteps indexes the plan's container steps by host and name.
// When a container has several (removed first to make way, then made
// again), the one that makes it wins over the removal.
func containerSteps(p plan.Plan) map[string]plan.Step {
	out := map[string]plan.Step{}
	rank := func(a change.Action) int {
		switch a {
		case change.Create, change.Replace, change.Update:
			return 3
		case change.Delete:
			return 2
		case change.Skip:
			return 1
		}
		return 0
	}
	for _, s := range p.Steps {
		if s.Kind != change.KindContainer {
			continue
		}
		k := s.Host + "\x00" + s.Name
		if old, ok := out[k]; !ok || rank(s.Action) > rank(old.Action) {
			out[k] = s
		}
	}
	return out
}

// withStep records the plan's step for the instance; observed false
// (its host is down) matches nothing.
func withStep(i *Instance, steps map[string]plan.Step, observed bool) {
	s, ok := steps[i.Host+"\x00"+i.Container]
	switch {
	case !observed:
		return
	case !ok || (!s.Action.Changes() && s.Code != change.Blocked):
		i.Matches = true
		return
	}
	i.Action, i.Code, i.Reason = s.Action, s.Code, s.Reason
}
