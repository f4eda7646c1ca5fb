package change

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/rensei-dev/rensei/drivers"
)

// Rename is an environment or a group that goes away while another one,
// identical but for its name, appears. Identity is the name, so nothing
// carries over: every instance is deleted and created again, and volumes
// (named after the environment and group) stay behind under the old name.
// A reviewer must not miss that.
type Rename struct {
	Kind Kind   `json:"kind"`          // KindEnvironment or KindGroup
	Env  string `json:"env,omitempty"` // the environment of a renamed group
	From string `json:"from"`
	To   string `json:"to"`
	// Instances are deleted under the old name and created under the new.
	Instances int `json:"instances"`
	// Networks are recreated (renamed environments).
	Networks int `json:"networks,omitempty"`
	// Volumes of the old name are kept on their hosts, not moved.
	Volumes int `json:"volumes,omitempty"`
}

// String is the loud line reviewers must not miss.
func (r Rename) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rename? %s %s → %s", r.Kind, r.From, r.To)
	if r.Kind == KindGroup {
		fmt.Fprintf(&b, " in environment %s", r.Env)
	}
	fmt.Fprintf(&b, ": %s deleted and %d created", Count(r.Instances, "instance"), r.Instances)
	if r.Networks > 0 {
		fmt.Fprintf(&b, ", %s recreated", Count(r.Networks, "network"))
	}
	if r.Volumes > 0 {
		fmt.Fprintf(&b, "; %s of the old name kept, not moved (the new name starts empty)", Count(r.Volumes, "volume"))
	} else {
		b.WriteString("; no volumes involved")
	}
	return b.String()
}

// Count renders "1 instance", "3 instances".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// Inventory is what one side holds, for finding renames: the environments
// it declares and, per environment and group, each instance's content
// digest (the io.rensei.content label, which leaves out every name). The
// side is either a revision's desired state or what is live on the hosts;
// both are read from the same labels.
type Inventory struct {
	envs      map[string]bool
	instances map[string]map[string]map[string]string // env → group → instance → content
	networks  map[string]map[string]bool              // env → logical network names
	volumes   map[string]map[string]int               // env → group ("" when shared) → count
}

// NewInventory returns an empty inventory.
func NewInventory() *Inventory {
	return &Inventory{envs: map[string]bool{}, instances: map[string]map[string]map[string]string{},
		networks: map[string]map[string]bool{}, volumes: map[string]map[string]int{}}
}

// Declare records an environment the side knows, even without objects
// (a revision's scheduled or ended environment).
func (in *Inventory) Declare(env string) { in.envs[env] = true }

// AddContainer records an instance from its labels.
func (in *Inventory) AddContainer(labels map[string]string) {
	env, group, inst := labels[drivers.LabelEnv], labels[drivers.LabelGroup], labels[drivers.LabelInstance]
	if env == "" || group == "" || inst == "" {
		return
	}
	in.envs[env] = true
	if in.instances[env] == nil {
		in.instances[env] = map[string]map[string]string{}
	}
	if in.instances[env][group] == nil {
		in.instances[env][group] = map[string]string{}
	}
	in.instances[env][group][inst] = labels[drivers.LabelContent]
}

// AddNetwork records an environment's network from its labels.
func (in *Inventory) AddNetwork(labels map[string]string) {
	env, name := labels[drivers.LabelEnv], labels[drivers.LabelNetwork]
	if env == "" || name == "" {
		return
	}
	in.envs[env] = true
	if in.networks[env] == nil {
		in.networks[env] = map[string]bool{}
	}
	in.networks[env][name] = true
}

// AddVolume records a volume from its labels.
func (in *Inventory) AddVolume(labels map[string]string) {
	env := labels[drivers.LabelEnv]
	if env == "" {
		return
	}
	in.envs[env] = true
	if in.volumes[env] == nil {
		in.volumes[env] = map[string]int{}
	}
	in.volumes[env][labels[drivers.LabelGroup]]++
}

// Renames pairs what goes away from before with what appears in after when
// their content is the same but for the name: environments that before
// declares and after does not, against environments after declares and
// before does not; and, inside an environment both declare, groups with
// instances only before against groups with instances only after. Only
// content pairs them, never the order of names: an unrelated removal and
// creation is not a rename. Instances without a content digest (made by an
// older Rensei) never pair. The result is sorted.
func Renames(before, after *Inventory) []Rename {
	var out []Rename
	var gone, born []string
	for env := range before.envs {
		if !after.envs[env] {
			gone = append(gone, env)
		}
	}
	for env := range after.envs {
		if !before.envs[env] {
			born = append(born, env)
		}
	}
	slices.Sort(gone)
	slices.Sort(born)
	for _, p := range pair(gone, born, before.envSignature, after.envSignature) {
		r := Rename{Kind: KindEnvironment, From: p[0], To: p[1], Networks: len(before.networks[p[0]])}
		for _, insts := range before.instances[p[0]] {
			r.Instances += len(insts)
		}
		for _, n := range before.volumes[p[0]] {
			r.Volumes += n
		}
		out = append(out, r)
	}
	for _, env := range slices.Sorted(maps.Keys(before.instances)) {
		if !after.envs[env] || len(after.instances[env]) == 0 {
			continue // gone, ended or not started: no group is renamed in it
		}
		var goneGroups, bornGroups []string
		for g := range before.instances[env] {
			if len(after.instances[env][g]) == 0 {
				goneGroups = append(goneGroups, g)
			}
		}
		for g := range after.instances[env] {
			if len(before.instances[env][g]) == 0 {
				bornGroups = append(bornGroups, g)
			}
		}
		slices.Sort(goneGroups)
		slices.Sort(bornGroups)
		sig := func(in *Inventory) func(string) string {
			return func(g string) string { return in.groupSignature(env, g) }
		}
		for _, p := range pair(goneGroups, bornGroups, sig(before), sig(after)) {
			out = append(out, Rename{Kind: KindGroup, Env: env, From: p[0], To: p[1],
				Instances: len(before.instances[env][p[0]]), Volumes: before.volumes[env][p[0]]})
		}
	}
	return out
}

// pair matches removed names to created ones with the same non-empty
// signature, each used once, in sorted order.
func pair(gone, born []string, oldSig, newSig func(string) string) [][2]string {
	var out [][2]string
	used := map[string]bool{}
	for _, g := range gone {
		s := oldSig(g)
		if s == "" {
			continue
		}
		for _, n := range born {
			if !used[n] && newSig(n) == s {
				used[n] = true
				out = append(out, [2]string{g, n})
				break
			}
		}
	}
	return out
}

// groupSignature is a group's content without its name or placement: its
// instances by name and content digest. Empty when it has no instances or
// one of them has no digest.
func (in *Inventory) groupSignature(env, group string) string {
	insts := in.instances[env][group]
	if len(insts) == 0 {
		return ""
	}
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(insts)) {
		if insts[name] == "" {
			return ""
		}
		b.WriteString(name + "=" + insts[name] + "\n")
	}
	return b.String()
}

// envSignature is an environment's content without its name: its groups
// by name and signature, and its networks by name. Empty when it has no
// instances.
func (in *Inventory) envSignature(env string) string {
	groups := in.instances[env]
	if len(groups) == 0 {
		return ""
	}
	var b strings.Builder
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		s := in.groupSignature(env, g)
		if s == "" {
			return ""
		}
		b.WriteString("group " + g + "\n" + s)
	}
	for _, n := range slices.Sorted(maps.Keys(in.networks[env])) {
		b.WriteString("network " + n + "\n")
	}
	return b.String()
}
