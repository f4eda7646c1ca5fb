package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/reconcile/place"
)

// renameWarnings flags what looks like a rename: within one plan, an
// environment (or a group of an environment) whose live containers all go
// away while another one appears. Identity is the name, so a rename is a
// delete plus a create and the old volumes are kept, not moved: a reviewer
// must not miss that.
func renameWarnings(want *place.Desired, have Observed, where instances) []string {
	liveEnv := map[string]int{}   // env → live containers
	liveGroup := map[string]int{} // env/group → live containers
	for _, st := range have {
		if st.Err != nil {
			continue
		}
		for _, c := range st.Containers {
			env := c.Labels[drivers.LabelEnv]
			liveEnv[env]++
			liveGroup[env+"/"+c.Labels[drivers.LabelGroup]]++
		}
	}
	wantEnv := map[string]int{}
	wantGroup := map[string]int{}
	for _, h := range want.Hosts {
		for _, c := range h.Containers {
			env := c.Labels[drivers.LabelEnv]
			wantEnv[env]++
			wantGroup[env+"/"+c.Labels[drivers.LabelGroup]]++
		}
	}
	var out []string
	// Environments: gone from the configuration (not merely ended) vs new.
	var goneEnvs, newEnvs []string
	for env := range liveEnv {
		if _, known := want.Env(env); !known {
			goneEnvs = append(goneEnvs, env)
		}
	}
	for env := range wantEnv {
		if liveEnv[env] == 0 {
			newEnvs = append(newEnvs, env)
		}
	}
	sort.Strings(goneEnvs)
	sort.Strings(newEnvs)
	for i := 0; i < len(goneEnvs) && i < len(newEnvs); i++ {
		out = append(out, fmt.Sprintf("rename? environment %q goes away (%d containers deleted) and %q appears (%d created): "+
			"a rename is a delete plus a create; the volumes of %q are kept, not moved",
			goneEnvs[i], liveEnv[goneEnvs[i]], newEnvs[i], wantEnv[newEnvs[i]], goneEnvs[i]))
	}
	// Groups of environments that stay.
	goneGroups, newGroups := map[string][]string{}, map[string][]string{}
	for eg := range liveGroup {
		env, g, _ := strings.Cut(eg, "/")
		if st, known := want.Env(env); known && st.State == place.Active && !where.group[eg] {
			goneGroups[env] = append(goneGroups[env], g)
		}
	}
	for eg := range wantGroup {
		env, g, _ := strings.Cut(eg, "/")
		if liveGroup[eg] == 0 && liveEnv[env] > 0 {
			newGroups[env] = append(newGroups[env], g)
		}
	}
	envs := make([]string, 0, len(goneGroups))
	for env := range goneGroups {
		envs = append(envs, env)
	}
	sort.Strings(envs)
	for _, env := range envs {
		gone, added := goneGroups[env], newGroups[env]
		sort.Strings(gone)
		sort.Strings(added)
		for i := 0; i < len(gone) && i < len(added); i++ {
			out = append(out, fmt.Sprintf("rename? in environment %q, group %q goes away (%d containers deleted) and %q appears (%d created): "+
				"a rename is a delete plus a create; the volumes of %q are kept, not moved",
				env, gone[i], liveGroup[env+"/"+gone[i]], added[i], wantGroup[env+"/"+added[i]], gone[i]))
		}
	}
	return out
}
