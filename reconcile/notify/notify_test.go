package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a local webhook endpoint (httptest, loopback) that answers
// with the status codes of answers in turn (then 200) and keeps every
// request it got.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	answers []int
	got     []request
}

type request struct {
	at     time.Time
	body   []byte
	header http.Header
	status int
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	t.Helper()
	r := &receiver{answers: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status := http.StatusOK
		if len(r.answers) > 0 {
			status, r.answers = r.answers[0], r.answers[1:]
		}
		r.got = append(r.got, request{at: time.Now(), body: b, header: req.Header.Clone(), status: status})
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

// delivered is the events of every request answered 2xx, in order.
func (r *receiver) delivered(t *testing.T) []Event {
	t.Helper()
	var out []Event
	for _, q := range r.requests() {
		if q.status/100 != 2 {
			continue
		}
		var p payload
		if err := json.Unmarshal(q.body, &p); err != nil {
			t.Fatalf("payload %s: %v", q.body, err)
		}
		out = append(out, p.Events...)
	}
	return out
}

// counts collects Options.Count.
type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) add(target, result string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[target+" "+result] += n
}

func (c *counts) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

// start runs n until the test ends.
func start(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func event(i int) Event {
	return Event{Time: time.Unix(int64(1800000000+i), 0).UTC(), Kind: Drift, Severity: Warning, Host: "site-a/docker",
		Message: fmt.Sprintf("event %d", i), Details: []string{"create container course_lab_ann: absent"}}
}

// TestRetryAfter500: a receiver that fails once gets the message again
// after the backoff, signed, and the retry is counted.
func TestRetryAfter500(t *testing.T) {
	r := newReceiver(t, http.StatusInternalServerError)
	c := &counts{}
	n := New([]Target{{Name: "webhook", Format: JSON, URL: r.URL + "/hook", Secret: []byte("k3y")}},
		Options{Coalesce: 10 * time.Millisecond, Backoff: 100 * time.Millisecond, Count: c.add})
	start(t, n)
	n.Notify(event(1))
	waitFor(t, "the message delivered after a 500", 5*time.Second, func() bool { return len(r.delivered(t)) == 1 })
	reqs := r.requests()
	if len(reqs) != 2 || reqs[0].status != 500 || !bytes.Equal(reqs[0].body, reqs[1].body) {
		t.Fatalf("requests: %+v", reqs)
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 100*time.Millisecond {
		t.Errorf("retried after %s, want the backoff of 100ms", gap)
	}
	m := hmac.New(sha256.New, []byte("k3y"))
	m.Write(reqs[1].body)
	if got, want := reqs[1].header.Get("X-Rensei-Signature-256"), "sha256="+hex.EncodeToString(m.Sum(nil)); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	if got := r.delivered(t)[0]; got.Message != "event 1" || got.Host != "site-a/docker" || got.Kind != Drift {
		t.Errorf("delivered %+v", got)
	}
	if c.get("webhook retried") != 1 || c.get("webhook sent") != 1 || c.get("webhook failed") != 0 {
		t.Errorf("counts: %v", c.m)
	}
}

// TestRetriesBounded: a receiver that keeps failing gets Attempts
// requests, then the message is given up (counted); a 4xx is not retried.
func TestRetriesBounded(t *testing.T) {
	r := newReceiver(t, 503, 503, 503, 503, 503)
	bad := newReceiver(t, http.StatusBadRequest)
	c := &counts{}
	n := New([]Target{{Name: "down", Format: JSON, URL: r.URL}, {Name: "bad", Format: Slack, URL: bad.URL}},
		Options{Coalesce: time.Millisecond, Backoff: 10 * time.Millisecond, Attempts: 3, Count: c.add})
	start(t, n)
	n.Notify(event(1), event(2))
	waitFor(t, "both given up", 5*time.Second, func() bool { return c.get("down failed") == 1 && c.get("bad failed") == 1 })
	if got := len(r.requests()); got != 3 {
		t.Errorf("a failing receiver got %d requests, want 3 (the attempts)", got)
	}
	if got := len(bad.requests()); got != 1 {
		t.Errorf("a receiver answering 400 got %d requests, want 1", got)
	}
	if c.get("down dropped") != 2 {
		t.Errorf("counts: %v", c.m)
	}
}

// TestRateLimit: bursts of events become few messages, at least
// MinInterval apart, and no event is lost.
func TestRateLimit(t *testing.T) {
	r := newReceiver(t)
	n := New([]Target{{Name: "webhook", Format: JSON, URL: r.URL}},
		Options{Coalesce: 50 * time.Millisecond, MinInterval: 400 * time.Millisecond})
	start(t, n)
	const events = 30
	begin := time.Now()
	for i := range events {
		n.Notify(event(i))
		time.Sleep(20 * time.Millisecond) // 30 events over 0.6 s (longer on a loaded machine)
	}
	sending := time.Since(begin)
	waitFor(t, "every event delivered", 5*time.Second, func() bool { return len(r.delivered(t)) == events })
	reqs := r.requests()
	// One message at once, then at most one per 400 ms while events come,
	// and one for what came last.
	if most := 2 + int(sending/(400*time.Millisecond)); len(reqs) > most {
		t.Errorf("%d messages for %d events sent over %s, want at most %d (coalesced, 400ms apart)", len(reqs), events, sending.Round(time.Millisecond), most)
	}
	for i := 1; i < len(reqs); i++ {
		if gap := reqs[i].at.Sub(reqs[i-1].at); gap < 390*time.Millisecond {
			t.Errorf("messages %d and %d %s apart, want at least 400ms", i-1, i, gap)
		}
	}
	for i, e := range r.delivered(t) {
		if e.Message != fmt.Sprintf("event %d", i) {
			t.Fatalf("event %d delivered as %q: out of order or lost", i, e.Message)
		}
	}
	t.Logf("%d events in %d messages", events, len(reqs))
}

// TestSlack: the Slack format is one {"text": …} naming every event.
func TestSlack(t *testing.T) {
	r := newReceiver(t)
	n := New([]Target{{Name: "slack", Format: Slack, URL: r.URL}}, Options{Coalesce: 20 * time.Millisecond, Source: "rensei test"})
	start(t, n)
	n.Notify(event(1), Event{Kind: LinkDown, Severity: Error, Host: "site-a/docker", Commit: "0123456789abcdef0123",
		Message: "site-a/docker → site-b/docker (course/lan): a full-size packet does not pass"})
	waitFor(t, "a message", 5*time.Second, func() bool { return len(r.requests()) == 1 })
	var msg map[string]string
	if err := json.Unmarshal(r.requests()[0].body, &msg); err != nil || len(msg) != 1 {
		t.Fatalf("slack body %s: %v", r.requests()[0].body, err)
	}
	for _, want := range []string{"*rensei test*: 2 event(s)", "• [warning] site-a/docker drift: event 1", "create container course_lab_ann: absent",
		"• [error] site-a/docker link-down: site-a/docker → site-b/docker (course/lan)", "(config 0123456789ab)"} {
		if !strings.Contains(msg["text"], want) {
			t.Errorf("slack text lacks %q:\n%s", want, msg["text"])
		}
	}
}

// TestQueueBounded: beyond MaxQueue the oldest events are dropped and the
// next message says how many.
func TestQueueBounded(t *testing.T) {
	r := newReceiver(t)
	c := &counts{}
	n := New([]Target{{Name: "webhook", Format: JSON, URL: r.URL}}, Options{Coalesce: time.Millisecond, MaxQueue: 3, Count: c.add})
	n.Notify(event(1), event(2), event(3), event(4), event(5)) // before Run: all queued
	start(t, n)
	waitFor(t, "a message", 5*time.Second, func() bool { return len(r.requests()) == 1 })
	var p payload
	json.Unmarshal(r.requests()[0].body, &p)
	if p.Dropped != 2 || len(p.Events) != 3 || p.Events[0].Message != "event 3" {
		t.Errorf("payload: dropped %d, events %+v", p.Dropped, p.Events)
	}
	if c.get("webhook dropped") != 2 {
		t.Errorf("counts: %v", c.m)
	}
}

// TestURLNeverLogged: a target that cannot be reached is logged by name
// only; the URL, which holds the secret, appears nowhere in the log.
func TestURLNeverLogged(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := &counts{}
	secret := "T0000/B0000/XXXXs3cr3tXXXX"
	n := New([]Target{{Name: "slack", Format: Slack, URL: "http://" + addr + "/services/" + secret}},
		Options{Coalesce: time.Millisecond, Backoff: 5 * time.Millisecond, Attempts: 2, Log: log, Count: c.add})
	start(t, n)
	n.Notify(event(1))
	waitFor(t, "given up", 5*time.Second, func() bool { return c.get("slack failed") == 1 })
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "s3cr3t") || strings.Contains(logs.String(), "/services/") {
		t.Errorf("the URL is in the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "target=slack") {
		t.Errorf("the failure is not logged by name:\n%s", logs.String())
	}
	if err := (Target{Name: "slack", Format: Slack, URL: "ftp://x/" + secret}).Check(); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("Check of an ftp URL: %v", err)
	}
	if err := (Target{Name: "slack", Format: Slack, URL: "https://hooks.example/" + secret}).Check(); err != nil {
		t.Errorf("Check of an https URL: %v", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
