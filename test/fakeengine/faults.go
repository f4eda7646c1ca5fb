package fakeengine

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// AllCalls, given to Inject, makes a fault apply to every API call.
const AllCalls = "*"

// Fault is what an injected failure does to a call.
type Fault struct {
	// Status is the HTTP status of the error answer; 0 means 500.
	Status int
	// Message is the error message; empty means "fakeengine: injected fault".
	Message string
	// Hang makes the call never answer: it blocks until the client gives up
	// (its context ends) or the engine closes. Status and Message are unused.
	Hang bool
}

func (f Fault) err() error {
	ae := &apiError{status: f.Status, msg: f.Message}
	if ae.status == 0 {
		ae.status = http.StatusInternalServerError
	}
	if ae.msg == "" {
		ae.msg = "fakeengine: injected fault"
	}
	return ae
}

// pending is an injected fault and how many more calls it hits (<0: all).
type pending struct {
	f Fault
	n int
}

// faults holds the engine's latency, injected faults and call counters.
type faults struct {
	mu      sync.Mutex
	latency time.Duration
	perCall map[string]time.Duration
	pending map[string]*pending // call name or AllCalls → fault
	calls   map[string]int
}

func (fs *faults) init(latency time.Duration, perCall map[string]time.Duration) {
	fs.latency = latency
	fs.perCall = map[string]time.Duration{}
	for call, d := range perCall {
		mustCall(call)
		fs.perCall[call] = d
	}
	fs.pending = map[string]*pending{}
	fs.calls = map[string]int{}
}

// mustCall panics on a call name no route serves: a typo in a test must
// not silently inject nothing.
func mustCall(call string) {
	if call != AllCalls && !callNames[call] {
		panic(fmt.Sprintf("fakeengine: unknown call %q (known: %v)", call, CallNames()))
	}
}

// CallNames returns the names of the API calls the fake serves, sorted.
// They are the docker client's method names ("ContainerList", "Ping", ...).
func CallNames() []string {
	out := make([]string, 0, len(callNames))
	for c := range callNames {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Inject makes the next n calls named call (AllCalls: any call) fail with
// f; n < 0 means every call until ClearFaults. A fault for a specific call
// is used before an AllCalls one. Injecting again for the same name
// replaces the earlier fault. It panics on an unknown call name.
func (e *Engine) Inject(call string, n int, f Fault) {
	mustCall(call)
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	if n == 0 {
		delete(e.faults.pending, call)
		return
	}
	e.faults.pending[call] = &pending{f: f, n: n}
}

// ClearFaults removes every injected fault (latency is kept).
func (e *Engine) ClearFaults() {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	clear(e.faults.pending)
}

// SetLatency sets the delay of the calls named call, or with call ""
// the delay of every call that has none of its own. It panics on an unknown
// call name.
func (e *Engine) SetLatency(call string, d time.Duration) {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	if call == "" {
		e.faults.latency = d
		return
	}
	mustCall(call)
	e.faults.perCall[call] = d
}

// Calls returns how many calls named call the engine received (including
// failed and delayed ones); AllCalls gives the total.
func (e *Engine) Calls(call string) int {
	mustCall(call)
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	if call != AllCalls {
		return e.faults.calls[call]
	}
	total := 0
	for _, n := range e.faults.calls {
		total += n
	}
	return total
}

func (fs *faults) count(call string) {
	fs.mu.Lock()
	fs.calls[call]++
	fs.mu.Unlock()
}

// delay waits out the call's latency; false means ctx or done ended first.
func (fs *faults) delay(ctx context.Context, done <-chan struct{}, call string) bool {
	fs.mu.Lock()
	d, ok := fs.perCall[call]
	if !ok {
		d = fs.latency
	}
	fs.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-done:
	}
	return false
}

// take consumes one use of the fault for call, if any.
func (fs *faults) take(call string) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, key := range []string{call, AllCalls} {
		p, ok := fs.pending[key]
		if !ok {
			continue
		}
		if p.n > 0 {
			p.n--
			if p.n == 0 {
				delete(fs.pending, key)
			}
		}
		return p.f, true
	}
	return Fault{}, false
}
