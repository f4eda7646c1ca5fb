package engine

import (
	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// Member is how one member reaches their instance, with its live state.
type Member struct {
	Env      string `json:"env"`
	Member   string `json:"member"`
	URL      string `json:"url"`
	Token    string `json:"token,omitempty"`
	Site     string `json:"site"`
	Host     string `json:"host"`
	State    string `json:"state"` // running, stopped, missing, unreachable
	Instance string `json:"container"`
}

// Members lists the access rows of env (all environments when "") with
// their tokens' secrets filled in from secrets and each instance's state
// on its host.
func Members(want *place.Desired, obs plan.Observed, secrets Secrets, env string) ([]Member, error) {
	var out []Member
	for _, a := range want.Access {
		if env != "" && a.Env != env {
			continue
		}
		token, err := secrets.Expand(a.Token)
		if err != nil {
			return nil, err
		}
		m := Member{Env: a.Env, Member: a.Instance, URL: a.URL, Token: token, Site: a.Site, Host: a.Host, State: "missing", Instance: a.Container}
		h, ok := obs[a.Host]
		switch {
		case !ok || h.Err != nil:
			m.State = "unreachable"
		default:
			for _, c := range h.Containers {
				if c.Name == a.Container {
					m.State = "stopped"
					if c.Running {
						m.State = "running"
					}
				}
			}
		}
		out = append(out, m)
	}
	return out, nil
}
