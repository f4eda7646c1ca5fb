package engine

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/schema"
)

// EnvRemoved is the state of an environment that is no longer in the
// configuration and still has objects on a host.
const EnvRemoved = "removed"

// EnvView is one environment as it stands: its window, its instances per
// site (desired and running), what the plan would change (drift), the
// config commit its containers were made from, and its problems.
type EnvView struct {
	Name   string            `json:"name"`
	Owner  string            `json:"owner,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	// State is active, scheduled or ended at the time placed, or EnvRemoved.
	State string    `json:"state"`
	From  time.Time `json:"from,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// Desired counts its desired instances and Running those of them
	// whose container runs; Undesired counts its containers that the
	// configuration no longer wants (apply deletes them).
	Desired   int       `json:"desired"`
	Running   int       `json:"running"`
	Undesired int       `json:"undesired"`
	Sites     []EnvSite `json:"sites"`
	// Drift is what apply would change for it now.
	Drift []Drift `json:"drift"`
	// Commit is the io.rensei.commit of its most recently made container:
	// the last config commit applied to it. Commits lists every commit its
	// containers carry, newest first.
	Commit   string       `json:"commit,omitempty"`
	Commits  []string     `json:"commits,omitempty"`
	Problems []EnvProblem `json:"problems"`
}

// EnvSite counts an environment's instances on one site and its hosts.
type EnvSite struct {
	Site    string    `json:"site"`
	Desired int       `json:"desired"`
	Running int       `json:"running"`
	Hosts   []EnvHost `json:"hosts"`
}

// EnvHost counts an environment's instances on one host.
type EnvHost struct {
	Host    string `json:"host"`
	Desired int    `json:"desired"`
	Running int    `json:"running"`
}

// Drift is one step of the plan.
type Drift struct {
	change.Ref
	Action change.Action `json:"action"`
	Code   change.Code   `json:"code"`
	Reason string        `json:"reason"`
}

// Problem codes of an environment.
const (
	ProblemUnreachable = "unreachable" // a host holding its instances could not be observed
	ProblemNotRunning  = "not-running" // a desired instance's container exists and does not run
	ProblemMissing     = "missing"     // a desired instance has no container
	ProblemBlocked     = "blocked"     // a step cannot be done: an object it needs is not this deployment's
	ProblemMoved       = "moved"       // an instance placed away from its data
)

// EnvProblem is something wrong with an environment, for people to act on.
type EnvProblem struct {
	Code   string `json:"code"`
	Host   string `json:"host,omitempty"`
	Object string `json:"object,omitempty"` // an instance ("env/group/member") or a step's object
	Detail string `json:"detail"`
}

// Environments summarises every environment of the configuration (at the
// time want was placed) and every environment that only the hosts still
// hold, from the instances listed and the plan. It is pure; the result
// is sorted by name.
func Environments(topo *schema.Topology, want *place.Desired, l InstanceList, p plan.Plan) []EnvView {
	views := map[string]*EnvView{}
	for _, e := range topo.Environments {
		v := &EnvView{Name: e.Name, Owner: e.Owner, Labels: e.Labels, State: EnvRemoved}
		if st, ok := want.Env(e.Name); ok {
			v.State, v.From, v.Until = string(st.State), st.From, st.Until
		}
		views[e.Name] = v
	}
	get := func(name string) *EnvView {
		v, ok := views[name]
		if !ok {
			v = &EnvView{Name: name, State: EnvRemoved}
			views[name] = v
		}
		return v
	}
	sites := map[string]map[string]*EnvSite{}
	type made struct {
		commit string
		at     time.Time
	}
	commits := map[string][]made{}
	for _, i := range l.Instances {
		v := get(i.Env)
		if i.Desired {
			s, h := siteOf(sites, i)
			v.Desired++
			s.Desired++
			h.Desired++
			if i.Running() {
				v.Running++
				s.Running++
				h.Running++
			}
		} else {
			v.Undesired++
		}
		if i.Commit != "" {
			commits[i.Env] = append(commits[i.Env], made{i.Commit, i.Created})
		}
		if pr, ok := instanceProblem(i); ok {
			v.Problems = append(v.Problems, pr)
		}
	}
	for _, s := range p.Steps {
		if s.Env == "" || (!s.Action.Changes() && s.Code != change.Blocked) {
			continue
		}
		v := get(s.Env)
		v.Drift = append(v.Drift, Drift{Ref: s.Ref, Action: s.Action, Code: s.Code, Reason: s.Reason})
		if s.Code == change.Blocked {
			v.Problems = append(v.Problems, EnvProblem{Code: ProblemBlocked, Host: s.Host, Object: string(s.Kind) + " " + s.Name, Detail: s.Reason})
		}
	}
	for _, m := range want.Moves {
		if v, ok := views[m.Env]; ok {
			v.Problems = append(v.Problems, EnvProblem{Code: ProblemMoved, Host: m.From, Object: m.Env + "/" + m.Group + "/" + m.Instance, Detail: m.String()})
		}
	}
	out := make([]EnvView, 0, len(views))
	for _, name := range slices.Sorted(maps.Keys(views)) {
		v := views[name]
		for _, site := range slices.Sorted(maps.Keys(sites[name])) {
			v.Sites = append(v.Sites, *sites[name][site])
		}
		if v.Sites == nil {
			v.Sites = []EnvSite{}
		}
		if v.Drift == nil {
			v.Drift = []Drift{}
		}
		if v.Problems == nil {
			v.Problems = []EnvProblem{}
		}
		ms := commits[name]
		slices.SortStableFunc(ms, func(a, b made) int { return b.at.Compare(a.at) })
		for _, m := range ms {
			if !slices.Contains(v.Commits, m.commit) {
				v.Commits = append(v.Commits, m.commit)
			}
		}
		if len(v.Commits) > 0 {
			v.Commit = v.Commits[0]
		}
		out = append(out, *v)
	}
	return out
}

// siteOf returns the counters of an instance's site and host.
func siteOf(sites map[string]map[string]*EnvSite, i Instance) (*EnvSite, *EnvHost) {
	if sites[i.Env] == nil {
		sites[i.Env] = map[string]*EnvSite{}
	}
	s := sites[i.Env][i.Site]
	if s == nil {
		s = &EnvSite{Site: i.Site}
		sites[i.Env][i.Site] = s
	}
	return s, hostOf(s, i.Host)
}

// hostOf returns the site's counter of host, adding it in key order.
func hostOf(s *EnvSite, host string) *EnvHost {
	i, found := slices.BinarySearchFunc(s.Hosts, host, func(h EnvHost, k string) int { return strings.Compare(h.Host, k) })
	if !found {
		s.Hosts = slices.Insert(s.Hosts, i, EnvHost{Host: host})
	}
	return &s.Hosts[i]
}

// instanceProblem is what is wrong with a desired instance, if anything.
func instanceProblem(i Instance) (EnvProblem, bool) {
	if !i.Desired {
		return EnvProblem{}, false
	}
	pr := EnvProblem{Host: i.Host, Object: i.Ref()}
	switch i.State {
	case StateRunning:
		return EnvProblem{}, false
	case StateUnreachable:
		pr.Code, pr.Detail = ProblemUnreachable, "host unreachable: "+i.Error
	case StateMissing:
		pr.Code, pr.Detail = ProblemMissing, "no container (rensei apply creates it)"
	default:
		pr.Code, pr.Detail = ProblemNotRunning, i.Describe()
	}
	return pr, true
}
