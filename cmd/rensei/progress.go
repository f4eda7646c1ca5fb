package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/reconcile/render"
)

// slowAfter is how long a step runs before progress calls it slow.
const slowAfter = 3 * time.Second

// redraw is how often the live line is drawn on a terminal.
const redraw = 200 * time.Millisecond

// progress shows an apply as it goes: on a terminal one line, drawn
// again and again (steps done of the total, per host, the steps running
// for longer than slowAfter); otherwise one plain line per step that ends
// and one per step that becomes slow. It learns the plan from begin and
// each end of a step from step (apply.Options.Progress). Apply does not
// say when a step starts: it runs each host's steps phase by phase in
// plan order, at most parallel at a time, so the running ones are taken
// to be the first unfinished steps of each host's current phase.
type progress struct {
	w        io.Writer
	tty      bool
	parallel int

	mu      sync.Mutex
	began   time.Time
	total   int
	done    int
	failed  int
	hosts   []*hostProgress
	byHost  map[string]*hostProgress
	stop    chan struct{}
	stopped chan struct{}
	width   int // of the line drawn last, to clear it
}

// hostProgress is one host's steps in the order apply runs them.
type hostProgress struct {
	key     string
	steps   []plan.Step
	ended   []bool
	started []time.Time // zero until the step is taken to be running
	warned  []bool      // a slow line was written (not a terminal)
	done    int
}

func newProgress(w io.Writer, tty bool, parallel int) *progress {
	if parallel <= 0 {
		parallel = apply.DefaultParallel
	}
	return &progress{w: w, tty: tty, parallel: parallel, byHost: map[string]*hostProgress{}}
}

// begin starts showing the apply of p.
func (p *progress) begin(pl plan.Plan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.began = time.Now()
	for _, s := range pl.Steps {
		if !s.Action.Changes() {
			continue
		}
		h := p.byHost[s.Host]
		if h == nil {
			h = &hostProgress{key: s.Host}
			p.byHost[s.Host] = h
			p.hosts = append(p.hosts, h)
		}
		h.steps = append(h.steps, s)
		h.ended = append(h.ended, false)
		h.started = append(h.started, time.Time{})
		h.warned = append(h.warned, false)
		p.total++
	}
	slices.SortFunc(p.hosts, func(a, b *hostProgress) int { return strings.Compare(a.key, b.key) })
	for _, h := range p.hosts {
		h.markRunning(p.parallel, p.began)
	}
	p.stop, p.stopped = make(chan struct{}), make(chan struct{})
	go p.tick()
}

// step records the end of a step (apply.Options.Progress).
func (p *progress) step(s plan.Step, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.done++
	if err != nil {
		p.failed++
	}
	h := p.byHost[s.Host]
	took := time.Duration(0)
	if h != nil {
		if i := h.index(s); i >= 0 {
			h.ended[i] = true
			h.done++
			if !h.started[i].IsZero() {
				took = now.Sub(h.started[i])
			}
		}
		h.markRunning(p.parallel, now)
	}
	if p.tty {
		p.draw(now)
		return
	}
	p.line(stepLine(p.done, p.total, s, took, err))
}

// end stops drawing and clears the live line.
func (p *progress) end() {
	p.mu.Lock()
	stop := p.stop
	p.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-p.stopped
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.width > 0 {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func (p *progress) tick() {
	defer close(p.stopped)
	t := time.NewTicker(redraw)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			p.mu.Lock()
			if p.tty {
				p.draw(now)
			} else {
				p.warnSlow(now)
			}
			p.mu.Unlock()
		}
	}
}

// draw writes the live line over the last one.
func (p *progress) draw(now time.Time) {
	line := liveLine(p.done, p.total, p.failed, p.hosts, now.Sub(p.began), slowSteps(p.hosts, now))
	if cols := termWidth(p.w); cols > 1 && len([]rune(line)) >= cols {
		line = string([]rune(line)[:cols-2]) + "…"
	}
	fmt.Fprint(p.w, "\r\x1b[K"+line)
	p.width = len(line)
}

// warnSlow writes one plain line per step that has just become slow.
func (p *progress) warnSlow(now time.Time) {
	for _, h := range p.hosts {
		for i, s := range h.steps {
			if h.ended[i] || h.started[i].IsZero() || h.warned[i] || now.Sub(h.started[i]) < slowAfter {
				continue
			}
			h.warned[i] = true
			p.line(fmt.Sprintf("[%d/%d] %s: %s %s %s: still running after %s", p.done, p.total, s.Host, render.Symbol(s.Action), s.Kind, s.Name, now.Sub(h.started[i]).Round(time.Second)))
		}
	}
}

func (p *progress) line(s string) { fmt.Fprintln(p.w, s) }

// index finds a step of the host by kind, name and action.
func (h *hostProgress) index(s plan.Step) int {
	for i, x := range h.steps {
		if !h.ended[i] && x.Kind == s.Kind && x.Name == s.Name && x.Action == s.Action && x.Phase == s.Phase {
			return i
		}
	}
	return -1
}

// markRunning stamps the steps now taken to be running: the first
// parallel unfinished ones of the first phase with unfinished steps.
func (h *hostProgress) markRunning(parallel int, now time.Time) {
	if h.done == len(h.steps) {
		return
	}
	first := slices.Index(h.ended, false)
	phase := h.steps[first].Phase
	running := 0
	for i := first; i < len(h.steps) && h.steps[i].Phase == phase && running < parallel; i++ {
		if h.ended[i] {
			continue
		}
		running++
		if h.started[i].IsZero() {
			h.started[i] = now
		}
	}
}

// slow is a step running for longer than slowAfter.
type slow struct {
	step plan.Step
	age  time.Duration
}

func slowSteps(hosts []*hostProgress, now time.Time) []slow {
	var out []slow
	for _, h := range hosts {
		for i, s := range h.steps {
			if !h.ended[i] && !h.started[i].IsZero() && now.Sub(h.started[i]) >= slowAfter {
				out = append(out, slow{s, now.Sub(h.started[i])})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b slow) int { return int(b.age - a.age) })
	return out
}

// liveLine is the terminal's line: "Applying 12/40 (1 failed) 8s ·
// campus/h1 5/20 · cloud/h0 7/20 · slow: cloud/h0 container x 9s".
func liveLine(done, total, failed int, hosts []*hostProgress, elapsed time.Duration, slows []slow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Applying %d/%d", done, total)
	if failed > 0 {
		fmt.Fprintf(&b, " (%d failed)", failed)
	}
	fmt.Fprintf(&b, " %s", elapsed.Round(time.Second))
	for _, h := range hosts {
		fmt.Fprintf(&b, " · %s %d/%d", h.key, h.done, len(h.steps))
	}
	if len(slows) > 0 {
		var parts []string
		for _, s := range slows[:min(len(slows), 3)] {
			parts = append(parts, fmt.Sprintf("%s %s %s %s", s.step.Host, s.step.Kind, s.step.Name, s.age.Round(time.Second)))
		}
		if len(slows) > 3 {
			parts = append(parts, fmt.Sprintf("+%d more", len(slows)-3))
		}
		b.WriteString(" · slow: " + strings.Join(parts, ", "))
	}
	return b.String()
}

// stepLine is the plain line of a step that ended:
// "[3/40] campus/h1: + container x: done in 1.2s".
func stepLine(done, total int, s plan.Step, took time.Duration, err error) string {
	outcome := "done"
	if took > 0 {
		outcome += " in " + took.Round(10*time.Millisecond).String()
	}
	if err != nil {
		outcome = "failed: " + err.Error()
	}
	mark := render.Symbol(s.Action)
	if s.Code == change.Blocked {
		mark = "×"
	}
	return fmt.Sprintf("[%d/%d] %s: %s %s %s: %s", done, total, s.Host, mark, s.Kind, s.Name, outcome)
}

// termWidth is the width of the terminal w writes to, or 0.
func termWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
