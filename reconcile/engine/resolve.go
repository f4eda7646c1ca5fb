package engine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/place"
)

// Sentinels of Find and Instance.CheckRunning, for errors.Is.
var (
	// ErrNoInstance: no instance of that name is desired or live.
	ErrNoInstance = errors.New("no such instance")
	// ErrNotRunning: the instance exists but its container does not run.
	ErrNotRunning = errors.New("instance not running")
)

// InstanceRef names an instance as people write it: ENV/GROUP/MEMBER.
// Member is empty when only ENV/GROUP was given.
type InstanceRef struct {
	Env, Group, Member string
}

func (r InstanceRef) String() string {
	if r.Member == "" {
		return r.Env + "/" + r.Group
	}
	return r.Env + "/" + r.Group + "/" + r.Member
}

// ParseInstanceRef parses "ENV/GROUP/MEMBER", or "ENV/GROUP" for a group
// with one instance.
func ParseInstanceRef(s string) (InstanceRef, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return InstanceRef{}, fmt.Errorf("instance %q: want ENV/GROUP/MEMBER (or ENV/GROUP for a group of one)", s)
	}
	r := InstanceRef{Env: parts[0], Group: parts[1]}
	if len(parts) == 3 {
		r.Member = parts[2]
	}
	return r, nil
}

// maxSuggestions bounds the close matches an error lists.
const maxSuggestions = 5

// Find returns the instance ref names. Several rows can have its name (an
// instance moving between hosts): a running one wins, then the desired
// one. A ref without a member names its group's only instance. An unknown
// name is an error wrapping ErrNoInstance that says what the environment
// and group hold (envs: the environments' states; one outside its window
// has no instances) and lists the closest names.
func (l InstanceList) Find(ref InstanceRef, envs []place.EnvStatus) (Instance, error) {
	var rows []Instance
	members := map[string]bool{}
	for _, i := range l.Instances {
		if i.Env == ref.Env && i.Group == ref.Group {
			members[i.Member] = true
			if ref.Member == "" || i.Member == ref.Member {
				rows = append(rows, i)
			}
		}
	}
	if ref.Member == "" && len(members) > 1 {
		names := slices.Sorted(maps.Keys(members))
		return Instance{}, lookupError{ErrNoInstance, fmt.Sprintf("%s has %s: name one as ENV/GROUP/MEMBER (%s)",
			ref, change.Count(len(names), "instance"), listSome(names, ref.String()+"/", 10))}
	}
	if len(rows) > 0 {
		slices.SortStableFunc(rows, func(a, b Instance) int { return preference(b) - preference(a) })
		return rows[0], nil
	}
	return Instance{}, l.unknown(ref, envs)
}

// preference orders rows of one name: running first, then desired.
func preference(i Instance) int {
	n := 0
	if i.Running() {
		n += 2
	}
	if i.Desired {
		n++
	}
	return n
}

// unknown explains why ref names nothing.
func (l InstanceList) unknown(ref InstanceRef, envs []place.EnvStatus) error {
	groups, members := map[string]bool{}, map[string]bool{}
	inList := false
	for _, i := range l.Instances {
		if i.Env != ref.Env {
			continue
		}
		inList = true
		groups[i.Group] = true
		if i.Group == ref.Group {
			members[i.Member] = true
		}
	}
	var why string
	env, declared := findEnv(envs, ref.Env)
	switch {
	case declared && env.State == place.Scheduled:
		why = fmt.Sprintf("environment %s is scheduled: its window opens %s; nothing runs before", ref.Env, when(env.From))
	case declared && env.State == place.Ended && !inList:
		why = fmt.Sprintf("environment %s ended %s: torn down, volumes kept", ref.Env, when(env.Until))
	case !declared && !inList:
		var names []string
		for _, e := range envs {
			names = append(names, e.Name)
		}
		why = fmt.Sprintf("no environment %q (environments: %s)", ref.Env, listSome(names, "", 10))
	case len(groups) > 0 && !groups[ref.Group]:
		why = fmt.Sprintf("environment %s has no group %q (groups: %s)", ref.Env, ref.Group, listSome(slices.Sorted(maps.Keys(groups)), "", 10))
	case len(members) > 0:
		names := slices.Sorted(maps.Keys(members))
		why = fmt.Sprintf("group %s/%s has no member %q (%s: %s)", ref.Env, ref.Group, ref.Member,
			change.Count(len(names), "member"), listSome(names, "", 10))
	default:
		why = fmt.Sprintf("environment %s has no instances on the hosts listed", ref.Env)
	}
	msg := fmt.Sprintf("instance %s: %s", ref, why)
	if near := l.closest(ref.String()); len(near) > 0 {
		msg += "; did you mean " + strings.Join(near, ", ") + "?"
	}
	return lookupError{ErrNoInstance, msg}
}

// lookupError is a message that stands for a sentinel (errors.Is).
type lookupError struct {
	sentinel error
	msg      string
}

func (e lookupError) Error() string { return e.msg }
func (e lookupError) Unwrap() error { return e.sentinel }

// closest lists the instance names nearest to name by edit distance.
func (l InstanceList) closest(name string) []string {
	type cand struct {
		ref string
		d   int
	}
	seen := map[string]bool{}
	var cs []cand
	limit := max(2, len(name)/4)
	for _, i := range l.Instances {
		r := i.Ref()
		if seen[r] {
			continue
		}
		seen[r] = true
		if d := distance(name, r); d <= limit {
			cs = append(cs, cand{r, d})
		}
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if a.d != b.d {
			return a.d - b.d
		}
		return strings.Compare(a.ref, b.ref)
	})
	var out []string
	for _, c := range cs[:min(len(cs), maxSuggestions)] {
		out = append(out, c.ref)
	}
	return out
}

// distance is the edit distance between a and b, counting a swap of two
// neighbouring characters as one edit ("wbe" is one from "web").
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// CheckRunning returns nil when the instance's container runs, else an
// error wrapping ErrNotRunning that says its state, since when, and on
// which host.
func (i Instance) CheckRunning() error {
	if i.Running() {
		return nil
	}
	var what string
	switch i.State {
	case StateMissing:
		what = "its container does not exist (rensei apply creates it)"
	case StateUnreachable:
		what = "its host is unreachable: " + i.Error
	default:
		what = "it is " + i.Describe()
	}
	return lookupError{ErrNotRunning, fmt.Sprintf("instance %s on %s is not running: %s", i.Ref(), i.Host, what)}
}

// Describe is the state in words: "exited (code 137) since 2027-04-02 10:00:00Z".
func (i Instance) Describe() string {
	s := i.State
	if i.State == "exited" || i.State == "dead" {
		s += fmt.Sprintf(" (code %d)", i.ExitCode)
	}
	if !i.Since.IsZero() {
		s += " since " + i.Since.UTC().Format("2006-01-02 15:04:05Z")
	}
	return s
}

func findEnv(envs []place.EnvStatus, name string) (place.EnvStatus, bool) {
	for _, e := range envs {
		if e.Name == name {
			return e, true
		}
	}
	return place.EnvStatus{}, false
}

// listSome joins up to n names, each with prefix, then "… (N more)".
func listSome(names []string, prefix string, n int) string {
	if len(names) == 0 {
		return "none"
	}
	var parts []string
	for _, s := range names[:min(len(names), n)] {
		parts = append(parts, prefix+s)
	}
	out := strings.Join(parts, ", ")
	if len(names) > n {
		out += fmt.Sprintf(", … (%d more)", len(names)-n)
	}
	return out
}

// when renders a window bound: a date at midnight UTC, else RFC 3339.
func when(t time.Time) string {
	switch {
	case t.IsZero():
		return "(open)"
	case t.Equal(t.Truncate(24*time.Hour)) && t.Location() == time.UTC:
		return t.Format(time.DateOnly)
	}
	return t.UTC().Format(time.RFC3339)
}
