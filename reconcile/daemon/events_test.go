package daemon

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/notify"
	"github.com/rensei-dev/rensei/reconcile/status"
)

// TestEvents: what a sequence of passes tells, and what it does not tell
// again: a deployment is "applied", drift repaired is "repaired", drift
// that stays is told once, a host lost and back once each, a refusal once
// per commit, a pass that cannot run once until one runs.
func TestEvents(t *testing.T) {
	d := &Daemon{lastReports: map[string]status.Report{}}
	now := time.Date(2027, 4, 1, 9, 0, 0, 0, time.UTC)
	item := func(name string) status.Item {
		return status.Item{Kind: change.KindContainer, Name: name, Env: "cs101", Action: change.Create, Reason: "absent"}
	}
	report := func(converged bool, drift, failed []status.Item, err string) status.Report {
		r := status.Report{Host: "docker", Site: "site-a", Commit: "c1", Converged: converged, Drift: drift, Error: err}
		for _, it := range drift {
			if len(failed) == 0 {
				r.Applied = append(r.Applied, it)
			}
		}
		for _, it := range failed {
			it.Error = "no space left"
			r.Failed = append(r.Failed, it)
		}
		return r
	}
	words := func(evs []notify.Event) string {
		var s []string
		for _, e := range evs {
			s = append(s, fmt.Sprintf("%s/%s %s", e.Kind, e.Severity, e.Message))
		}
		return strings.Join(s, "; ")
	}
	pass := func(adopted bool, r status.Report) string {
		evs := d.hostEvents([]status.Report{r}, adopted, now)
		d.keepReports([]status.Report{r})
		return words(evs)
	}
	ann, bob := item("cs101_lab_ann"), item("cs101_lab_bob")
	for i, step := range []struct {
		adopted bool
		r       status.Report
		want    string
	}{
		{true, report(true, []status.Item{ann, bob}, nil, ""), "applied/info revision c1 applied: 2 change(s)"},
		{false, report(true, nil, nil, ""), ""},
		{false, report(true, []status.Item{ann}, nil, ""), "repaired/info 1 object(s) drifted and were repaired"},
		{false, report(false, []status.Item{bob}, []status.Item{bob}, ""), "failed/error 1 step(s) failed, 0 applied"},
		{false, report(false, []status.Item{bob}, []status.Item{bob}, ""), ""}, // the same failure: told once
		{false, report(false, nil, nil, "unreachable: engine down"), "failed/error host unreachable: engine down"},
		{false, report(false, nil, nil, "unreachable: engine down"), ""},
		{false, report(true, nil, nil, ""), "recovered/info host reachable again"},
	} {
		if got := pass(step.adopted, step.r); got != step.want {
			t.Errorf("pass %d: %q, want %q", i, got, step.want)
		}
	}

	d.refused = &status.Refusal{Commit: "badbadbadbadbad", Reason: "environments/x.jsonnet:3: unexpected end of file"}
	if got := words(d.refusalEvents(now)); !strings.HasPrefix(got, "refused/error revision badbadbadbad refused; no revision is enforced") {
		t.Errorf("refusal: %q", got)
	}
	if got := d.refusalEvents(now); len(got) != 0 {
		t.Errorf("the same refusal told again: %s", words(got))
	}
	d.refused = &status.Refusal{Commit: "badbadbadbadbad", Held: true, Awaiting: status.ApprovePrune}
	if got := words(d.refusalEvents(now)); !strings.HasPrefix(got, "held/warning revision badbadbadbad held until approved (prune)") {
		t.Errorf("held: %q", got)
	}

	if got := words(d.passFailure(errors.New("connect: no such host"), now)); got != "failed/error pass failed: connect: no such host" {
		t.Errorf("pass failure: %q", got)
	}
	if got := d.passFailure(errors.New("connect: no such host"), now); len(got) != 0 {
		t.Errorf("the same failure told again: %s", words(got))
	}
	if got := words(d.passFailure(nil, now)); got != "recovered/info passes run again" {
		t.Errorf("recovery: %q", got)
	}
}
