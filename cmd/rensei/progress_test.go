package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// progressPlan is two hosts' steps: h1 has two phases, h2 one step.
func progressPlan() plan.Plan {
	step := func(host, name string, phase plan.Phase, a change.Action) plan.Step {
		return plan.Step{Ref: change.Ref{Host: host, Kind: change.KindContainer, Name: name}, Action: a, Phase: phase}
	}
	return plan.Plan{Steps: []plan.Step{
		step("campus/h1", "net", plan.PhaseNetworks, change.Create),
		step("campus/h1", "a", plan.PhaseContainers, change.Create),
		step("campus/h1", "b", plan.PhaseContainers, change.Create),
		step("campus/h1", "kept", plan.PhaseVolumes, change.Keep),
		step("cloud/h2", "c", plan.PhaseContainers, change.Replace),
	}}
}

func TestProgressPlainLines(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, false, 1)
	pl := progressPlan()
	p.begin(pl)
	p.step(pl.Steps[0], nil)
	p.step(pl.Steps[4], errors.New("engine said no"))
	p.step(pl.Steps[1], nil)
	p.step(pl.Steps[2], nil)
	p.end()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{
		"[1/4] campus/h1: + container net: done",
		"[2/4] cloud/h2: ± container c: failed: engine said no",
		"[3/4] campus/h1: + container a: done",
		"[4/4] campus/h1: + container b: done",
	}
	if len(lines) != len(want) {
		t.Fatalf("lines:\n%s", b.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %q, want it to start with %q", i, lines[i], w)
		}
	}
}

func TestProgressLiveLine(t *testing.T) {
	pl := progressPlan()
	p := newProgress(&bytes.Buffer{}, true, 1)
	p.begin(pl)
	p.end()
	start := p.began
	// One at a time: after the network, a runs and b waits for it.
	h1 := p.byHost["campus/h1"]
	if h1.started[0] != start || !h1.started[1].IsZero() {
		t.Fatalf("only the network runs at first: %v", h1.started)
	}
	h1.ended[0], h1.done = true, 1
	later := start.Add(10 * time.Second)
	h1.markRunning(1, start.Add(time.Second))
	if h1.started[1].IsZero() || !h1.started[2].IsZero() {
		t.Fatalf("a runs, b waits: %v", h1.started)
	}
	line := liveLine(1, 4, 0, p.hosts, 10*time.Second, slowSteps(p.hosts, later))
	for _, w := range []string{"Applying 1/4", "campus/h1 1/3", "cloud/h2 0/1", "slow: cloud/h2 container c 10s", "campus/h1 container a 9s"} {
		if !strings.Contains(line, w) {
			t.Errorf("live line %q does not say %q", line, w)
		}
	}
	var b bytes.Buffer
	p = newProgress(&b, true, 4)
	p.begin(pl)
	p.step(pl.Steps[0], nil)
	p.end()
	if out := b.String(); !strings.Contains(out, "\r\x1b[KApplying 1/4") || !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("terminal output %q: want the line drawn over itself, then cleared", out)
	}
}
