// Package status is the drift report schema and the status branch that
// keeps the reports: one report per host, built from a pass's plan and
// apply result, at reports/<site>/<host>.json with a short .txt beside it
// on the status branch of the config remote; one commit per change (never
// per pass). Several writers may share the branch: each rewrites only its
// own hosts' files (package gitrepo retries a lost compare-and-swap on
// the new tip). Every item carries the environment it belongs to, so
// readers (history, the status page) filter by data, never by words.
package status

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// DefaultBranch is the status branch's name unless configured otherwise:
// the one definition every command and the daemon use.
const DefaultBranch = "rensei/status"

// Item is one object a report talks about: drift found, a step done or
// failed. Env and Group say whose it is; Code says why as data.
type Item struct {
	Kind   change.Kind   `json:"kind"`
	Name   string        `json:"name"`
	Env    string        `json:"env,omitempty"`
	Group  string        `json:"group,omitempty"`
	Action change.Action `json:"action"`
	Code   change.Code   `json:"code,omitempty"`
	Reason string        `json:"reason"`
	Error  string        `json:"error,omitempty"`
}

// Refusal is a revision the daemon did not apply, and why. The revision
// in Report.Commit is still enforced.
type Refusal struct {
	Commit string `json:"commit"`
	Reason string `json:"reason"`
	// Held: the revision is valid but waits for an approval (it would
	// prune too much, or it rewinds the branch), or a later revision.
	Held bool `json:"held,omitempty"`
	// Awaiting names the approval it waits for: "prune" or "rewind".
	Awaiting string `json:"awaiting,omitempty"`
}

// Report is the state of one host after a pass. Time is when this
// content was first seen; it is left out of every comparison, so a host
// that stays the same gets no new commit.
type Report struct {
	Host      string    `json:"host"`
	Site      string    `json:"site"`
	Commit    string    `json:"commit"` // the config commit enforced
	Time      time.Time `json:"time"`
	Converged bool      `json:"converged"`
	Drift     []Item    `json:"drift"`
	Applied   []Item    `json:"applied"`
	Failed    []Item    `json:"failed"`
	// Error: the host could not be observed, or the pass could not run.
	Error   string   `json:"error,omitempty"`
	Refused *Refusal `json:"refused,omitempty"`
	// Warnings are faults that did not stop enforcement: a fetch of the
	// config branch that failed, unreadable files on the status branch.
	Warnings []string `json:"warnings,omitempty"`
	// Links are the overlay links from this host to every other host of
	// its overlay networks, as this host's probes found them, sorted by
	// network and peer. A broken link is drift.
	Links []Link `json:"links,omitempty"`
}

// Link is one overlay link as its host's probes found it: from the host's
// bridge of Network, across the VXLAN, to Peer's bridge. Round-trip times
// change every probe and are not kept here (see the daemon's metrics and
// status page), so a link that stays the same makes no new commit.
type Link struct {
	Peer    string `json:"peer"`    // "site/host"
	Network string `json:"network"` // "env/network"
	// OK: a small echo crossed the link and came back.
	OK bool `json:"ok"`
	// MTUOK: an echo of the network's full MTU with don't-fragment came
	// back too (no MTU black hole on the path).
	MTUOK bool `json:"mtuOk"`
	MTU   int  `json:"mtu"` // the size probed: the network's MTU
	// Since is when the link was first seen in this state. Like
	// Report.Time it is left out of every comparison.
	Since time.Time `json:"since"`
	// Error says what failed, in stable words.
	Error string `json:"error,omitempty"`
	// Repaired: the pass found the link broken in the host's own state (a
	// tunnel or an FDB entry missing or wrong) and repaired it.
	Repaired string `json:"repaired,omitempty"`
}

// Healthy reports whether both probes of the link passed.
func (l Link) Healthy() bool { return l.OK && l.MTUOK }

// State is one word for the link: ok, mtu (a full-size packet is lost:
// an MTU black hole) or down.
func (l Link) State() string {
	switch {
	case !l.OK:
		return "down"
	case !l.MTUOK:
		return "mtu"
	}
	return "ok"
}

// BrokenLinks returns the links that are not healthy.
func (r Report) BrokenLinks() []Link {
	var out []Link
	for _, l := range r.Links {
		if !l.Healthy() {
			out = append(out, l)
		}
	}
	return out
}

func (r Report) linksQuiet() bool {
	for _, l := range r.Links {
		if !l.Healthy() || l.Repaired != "" {
			return false
		}
	}
	return true
}

// Key is "site/host", the key of hosts everywhere else.
func (r Report) Key() string { return r.Site + "/" + r.Host }

// SplitKey splits "site/host".
func SplitKey(key string) (site, host string) {
	site, host, ok := strings.Cut(key, "/")
	if !ok {
		return "", key
	}
	return site, host
}

// Build makes the report of host key ("site/host") from the plan of a
// pass (its steps for key are the drift), what apply did, and whether the
// re-plan after apply was empty for the host.
func Build(key, commit string, p plan.Plan, res apply.Result, converged bool, now time.Time) Report {
	site, host := SplitKey(key)
	r := Report{Host: host, Site: site, Commit: commit, Time: now.UTC(), Converged: converged,
		Drift: []Item{}, Applied: []Item{}, Failed: []Item{}}
	for _, u := range p.Unreachable {
		if u.Host == key {
			r.Error = "unreachable: " + u.Error
			r.Converged = false
		}
	}
	for _, s := range p.Steps {
		if s.Host != key || (!s.Action.Changes() && s.Code != change.Blocked) {
			continue // volumes kept and the like are not drift
		}
		r.Drift = append(r.Drift, item(s, ""))
		if s.Code == change.Blocked {
			r.Converged = false
		}
	}
	for _, s := range res.Done {
		if s.Host == key {
			r.Applied = append(r.Applied, item(s, ""))
		}
	}
	for _, f := range res.Failed {
		if f.Step.Host == key {
			r.Failed = append(r.Failed, item(f.Step, f.Err))
		}
	}
	sortItems(r.Drift)
	sortItems(r.Applied)
	sortItems(r.Failed)
	return r
}

func item(s plan.Step, err string) Item {
	return Item{Kind: s.Kind, Name: s.Name, Env: s.Env, Group: s.Group, Action: s.Action, Code: s.Code, Reason: s.Reason, Error: err}
}

func sortItems(items []Item) {
	slices.SortFunc(items, func(a, b Item) int {
		return strings.Compare(string(a.Kind)+"\x00"+a.Name+"\x00"+string(a.Action), string(b.Kind)+"\x00"+b.Name+"\x00"+string(b.Action))
	})
}

// Clean reports whether the host is converged with nothing to say: no
// drift, no failure, no error, no refused revision, every link healthy
// and none repaired.
func (r Report) Clean() bool {
	return r.Converged && len(r.Drift) == 0 && len(r.Failed) == 0 && r.Error == "" && r.Refused == nil && len(r.Warnings) == 0 &&
		r.linksQuiet()
}

// Same reports whether r and o have the same content, times aside (the
// report's and its links' Since): whether their JSON would be the same,
// found field by field without encoding either (a daemon compares every
// host's report with the last one on every pass). A nil list and an empty
// one are the same, as in JSON.
func (r Report) Same(o Report) bool {
	return r.Host == o.Host && r.Site == o.Site && r.Commit == o.Commit && r.Converged == o.Converged && r.Error == o.Error &&
		slices.Equal(r.Drift, o.Drift) && slices.Equal(r.Applied, o.Applied) && slices.Equal(r.Failed, o.Failed) &&
		sameRefusal(r.Refused, o.Refused) && slices.Equal(r.Warnings, o.Warnings) && slices.EqualFunc(r.Links, o.Links, sameLink)
}

func sameRefusal(a, b *Refusal) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// sameLink compares two links but for their Since.
func sameLink(a, b Link) bool {
	a.Since, b.Since = time.Time{}, time.Time{}
	return a == b
}

// Supersedes reports whether r should replace prev on the status branch.
// It does unless the content is the same, or r is a clean pass at the
// same commit after a pass that converged (a repaired drift stays the
// record until something new happens).
func (r Report) Supersedes(prev *Report) bool {
	if prev == nil {
		return true
	}
	return r.supersedes(r.Same(*prev), *prev, len(prev.Failed))
}

// supersedes is Supersedes given whether r is the same as prev, and how
// many steps failed in prev (its lists of items are not read).
func (r Report) supersedes(same bool, prev Report, failed int) bool {
	if same {
		return false
	}
	if r.Clean() && prev.Commit == r.Commit && prev.Converged && failed == 0 &&
		prev.Error == "" && prev.Refused == nil && len(prev.Warnings) == 0 && len(prev.BrokenLinks()) == 0 && sameLinks(r.Links, prev.Links) {
		return false
	}
	return true
}

// sameLinks reports whether a and b are the same links (peer and
// network), whatever their state.
func sameLinks(a, b []Link) bool {
	return slices.EqualFunc(a, b, func(x, y Link) bool { return x.Peer == y.Peer && x.Network == y.Network && x.MTU == y.MTU })
}

// JSON encodes the report, indented, with a final newline.
func (r Report) JSON() []byte {
	if r.Drift == nil {
		r.Drift = []Item{}
	}
	if r.Applied == nil {
		r.Applied = []Item{}
	}
	if r.Failed == nil {
		r.Failed = []Item{}
	}
	b, _ := json.MarshalIndent(r, "", "  ") // plain data: cannot fail
	return append(b, '\n')
}

// State is one word for the report: converged, drifted (objects not in
// their desired state, or a broken overlay link), refused, held, failed
// or unreachable.
func (r Report) State() string {
	switch {
	case r.Error != "" && r.Refused == nil:
		return "unreachable"
	case len(r.Failed) > 0:
		return "failed"
	case r.Refused != nil && r.Refused.Held:
		return "held"
	case r.Refused != nil:
		return "refused"
	case !r.Converged, len(r.BrokenLinks()) > 0:
		return "drifted"
	}
	return "converged"
}

// Text renders the report for people: a headline, then what drifted, what
// was done, what failed.
func (r Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s at config %s since %s\n", r.Key(), r.State(), gitrepo.Short(r.Commit), r.Time.Format(time.RFC3339))
	if r.Refused != nil {
		verb := "refused"
		if r.Refused.Held {
			verb = "held"
		}
		fmt.Fprintf(&b, "%s revision %s: %s\n", verb, gitrepo.Short(r.Refused.Commit), r.Refused.Reason)
	}
	if r.Error != "" && r.Refused == nil {
		fmt.Fprintf(&b, "error: %s\n", r.Error)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	section := func(title string, items []Item) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s:\n", title)
		for _, it := range items {
			fmt.Fprintf(&b, "  %s %s %s: %s", it.Action, it.Kind, it.Name, it.Reason)
			if it.Error != "" {
				fmt.Fprintf(&b, ": %s", it.Error)
			}
			b.WriteByte('\n')
		}
	}
	section("drift", r.Drift)
	section("applied", r.Applied)
	section("failed", r.Failed)
	if len(r.Links) > 0 {
		b.WriteString("links:\n")
		for _, l := range r.Links {
			fmt.Fprintf(&b, "  %s %s (%s)", l.State(), l.Peer, l.Network)
			if l.Error != "" {
				fmt.Fprintf(&b, ": %s", l.Error)
			}
			if l.Repaired != "" {
				fmt.Fprintf(&b, "; repaired: %s", l.Repaired)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Summary is one line for a commit message.
func (r Report) Summary() string {
	var parts []string
	if r.Refused != nil {
		verb := "refused"
		if r.Refused.Held {
			verb = "held"
		}
		parts = append(parts, fmt.Sprintf("%s %s", verb, gitrepo.Short(r.Refused.Commit)))
	}
	if r.Error != "" && r.Refused == nil {
		parts = append(parts, "unreachable")
	}
	if len(r.Drift) > 0 {
		parts = append(parts, fmt.Sprintf("%d drifted", len(r.Drift)))
	}
	if len(r.Applied) > 0 {
		parts = append(parts, fmt.Sprintf("%d applied", len(r.Applied)))
	}
	if len(r.Failed) > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", len(r.Failed)))
	}
	if n := len(r.BrokenLinks()); n > 0 {
		parts = append(parts, fmt.Sprintf("%d link(s) broken", n))
	}
	if r.Converged {
		parts = append(parts, "converged")
	} else if r.Error == "" {
		parts = append(parts, "not converged")
	}
	return fmt.Sprintf("%s %s", r.Key(), strings.Join(parts, ", "))
}

// Message is the commit message for a set of changed reports: a subject
// naming the hosts and config commits, then per host what drifted, what
// was done and what failed.
func Message(reports []Report) string {
	var b strings.Builder
	commits := map[string]bool{}
	var subj []string
	for _, r := range reports {
		subj = append(subj, r.Summary())
		commits[gitrepo.Short(r.Commit)] = true
	}
	cs := make([]string, 0, len(commits))
	for c := range commits {
		cs = append(cs, c)
	}
	slices.Sort(cs)
	fmt.Fprintf(&b, "report: %s (config %s)\n\n", strings.Join(subj, "; "), strings.Join(cs, ", "))
	for _, r := range reports {
		fmt.Fprintf(&b, "%s @ config %s\n", r.Key(), r.Commit)
		for _, line := range strings.Split(strings.TrimRight(r.Text(), "\n"), "\n")[1:] {
			b.WriteString("  " + line + "\n")
		}
	}
	return b.String()
}

// Mentions reports whether the report concerns the environment: an item
// of it drifted, was applied or failed.
func (r Report) Mentions(env string) bool {
	for _, items := range [][]Item{r.Drift, r.Applied, r.Failed} {
		for _, it := range items {
			if it.Env == env {
				return true
			}
		}
	}
	return false
}
