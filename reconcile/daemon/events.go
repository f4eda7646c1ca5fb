package daemon

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/notify"
	"github.com/rensei-dev/rensei/reconcile/status"
)

// Notifier is told every event the daemon sees: drift, repairs, revisions
// applied, refused or held, failures, hosts lost and back, overlay links
// broken and recovered. *notify.Notifier is one. Notify must not block.
type Notifier interface {
	Notify(events ...notify.Event)
}

// recentEvents is how many events the status page keeps.
const recentEvents = 100

// emit keeps events for the status page and hands them to the notifier.
func (d *Daemon) emit(events []notify.Event) {
	if len(events) == 0 {
		return
	}
	d.mu.Lock()
	d.recent = append(d.recent, events...)
	if over := len(d.recent) - recentEvents; over > 0 {
		d.recent = slices.Clone(d.recent[over:])
	}
	d.mu.Unlock()
	if d.cfg.Notifier != nil {
		d.cfg.Notifier.Notify(events...)
	}
}

// hostEvents compares each host's report with the one of the pass before:
// drift repaired or not, steps failed, a host lost or back, a revision
// applied. A report that stays the same says nothing new, so a lasting
// failure is told once. adopted: the pass applied a new revision, whose
// steps are a deployment, not drift.
func (d *Daemon) hostEvents(reports []status.Report, adopted bool, now time.Time) []notify.Event {
	var out []notify.Event
	for _, r := range reports {
		prev, seen := d.lastReports[r.Key()]
		ev := func(kind notify.Kind, sev notify.Severity, msg string, details []string) {
			out = append(out, notify.Event{Time: now.UTC(), Kind: kind, Severity: sev, Host: r.Key(), Env: oneEnv(r),
				Commit: r.Commit, Message: msg, Details: details})
		}
		unreachable := r.Error != "" && r.Refused == nil
		switch {
		case unreachable && (!seen || prev.Error == "" || prev.Refused != nil):
			ev(notify.Failed, notify.Error, "host unreachable: "+strings.TrimPrefix(r.Error, "unreachable: "), nil)
		case !unreachable && seen && prev.Error != "" && prev.Refused == nil:
			ev(notify.Recovered, notify.Info, "host reachable again", nil)
		}
		same := seen && r.Same(prev)
		switch {
		case len(r.Drift) == 0:
		case adopted && len(r.Failed) == 0:
			ev(notify.Applied, notify.Info, fmt.Sprintf("revision %s applied: %d change(s)", gitrepo.Short(r.Commit), len(r.Applied)), itemLines(r.Applied))
		case r.Converged && len(r.Failed) == 0:
			ev(notify.Repaired, notify.Info, fmt.Sprintf("%d object(s) drifted and were repaired", len(r.Drift)), itemLines(r.Drift))
		case !same && len(r.Failed) == 0:
			ev(notify.Drift, notify.Warning, fmt.Sprintf("%d object(s) not in their desired state", len(r.Drift)), itemLines(r.Drift))
		}
		if len(r.Failed) > 0 && !same {
			ev(notify.Failed, notify.Error, fmt.Sprintf("%d step(s) failed, %d applied", len(r.Failed), len(r.Applied)), itemLines(r.Failed))
		}
	}
	return out
}

// oneEnv is the environment every item of the report belongs to, or "".
func oneEnv(r status.Report) string {
	env := ""
	for _, items := range [][]status.Item{r.Drift, r.Applied, r.Failed} {
		for _, it := range items {
			switch {
			case it.Env == "":
			case env == "":
				env = it.Env
			case env != it.Env:
				return ""
			}
		}
	}
	return env
}

// itemLines renders items as "create container x: absent".
func itemLines(items []status.Item) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		line := fmt.Sprintf("%s %s %s: %s", it.Action, it.Kind, it.Name, it.Reason)
		if it.Error != "" {
			line += ": " + it.Error
		}
		out = append(out, line)
	}
	return out
}

// refusalEvents tells a revision refused or held, once per commit and kind.
func (d *Daemon) refusalEvents(now time.Time) []notify.Event {
	key := ""
	if r := d.refused; r != nil {
		key = fmt.Sprintf("%s %v %s", r.Commit, r.Held, r.Awaiting)
	}
	if key == d.notedRefusal {
		return nil
	}
	d.notedRefusal = key
	r := d.refused
	if r == nil {
		return nil
	}
	enforced := "no revision is enforced"
	if c := d.currentSHA(); c != "" {
		enforced = "revision " + gitrepo.Short(c) + " is still enforced"
	}
	e := notify.Event{Time: now.UTC(), Kind: notify.Refused, Severity: notify.Error, Commit: r.Commit,
		Message: fmt.Sprintf("revision %s refused; %s", gitrepo.Short(r.Commit), enforced), Details: firstLines(r.Reason, 10)}
	if r.Held {
		e.Kind, e.Severity = notify.Held, notify.Warning
		e.Message = fmt.Sprintf("revision %s held until approved (%s); %s", gitrepo.Short(r.Commit), r.Awaiting, enforced)
	}
	return []notify.Event{e}
}

// passFailure tells a pass that could not run (hosts not connected), once
// until a pass runs again.
func (d *Daemon) passFailure(err error, now time.Time) []notify.Event {
	was := d.passErr
	d.passErr = ""
	if err != nil {
		d.passErr = err.Error()
	}
	switch {
	case d.passErr != "" && d.passErr != was:
		return []notify.Event{{Time: now.UTC(), Kind: notify.Failed, Severity: notify.Error, Commit: d.currentSHA(),
			Message: "pass failed: " + d.passErr}}
	case d.passErr == "" && was != "":
		return []notify.Event{{Time: now.UTC(), Kind: notify.Recovered, Severity: notify.Info, Commit: d.currentSHA(),
			Message: "passes run again"}}
	}
	return nil
}

func firstLines(s string, n int) []string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("… %d more line(s)", len(lines)-n))
	}
	return lines
}
