package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Format is how a target wants its messages.
type Format string

const (
	// JSON posts {"source", "count", "dropped", "events": [Event…]}, with
	// X-Rensei-Signature-256: sha256=<hex HMAC of the body> when the
	// target has a secret (as GitHub signs its webhooks).
	JSON Format = "json"
	// Slack posts {"text": …}: Slack incoming webhooks and the many chat
	// services that accept their format (Mattermost, Rocket.Chat, …).
	Slack Format = "slack"
)

// Target is one receiver. URL and Secret are secrets: never logged.
type Target struct {
	Name   string // for logs and metrics ("webhook", "slack")
	Format Format
	URL    string
	Secret []byte // JSON only: signs the body
}

// Check reports whether the target can be used, without quoting its URL.
func (t Target) Check() error {
	u, err := url.Parse(t.URL)
	switch {
	case err != nil:
		return fmt.Errorf("notify %s: not a valid URL (not shown: it may hold a secret)", t.Name)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return fmt.Errorf("notify %s: want an http or https URL with a host (the URL is not shown: it may hold a secret)", t.Name)
	case t.Format != JSON && t.Format != Slack:
		return fmt.Errorf("notify %s: unknown format %q", t.Name, t.Format)
	}
	return nil
}

// Options tune delivery; the zero value gives the defaults.
type Options struct {
	// Source names the sender in messages (default "rensei").
	Source string
	// Coalesce is how long a burst may grow after its first event before
	// it is sent (default 2 s).
	Coalesce time.Duration
	// MinInterval is the least time between two messages to one target
	// (default 10 s): events meanwhile wait and go together.
	MinInterval time.Duration
	// Attempts bounds the deliveries of one message (default 5); Backoff
	// is the wait before the first retry, doubling up to MaxBackoff
	// (defaults 1 s and 1 min). A Retry-After header is honoured within
	// MaxBackoff.
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Timeout bounds one request (default 10 s).
	Timeout time.Duration
	// MaxQueue bounds the events waiting for one target (default 200); the
	// oldest are dropped beyond it, and the next message says how many.
	MaxQueue int
	// Client sends the requests (default: a client with Timeout).
	Client *http.Client
	Log    *slog.Logger
	// Count, when set, is told every outcome: result is "sent", "retried",
	// "failed" (given up) or "dropped" (n events lost to a full queue or a
	// failed message).
	Count func(target, result string, n int)
}

func (o Options) withDefaults() Options {
	if o.Source == "" {
		o.Source = "rensei"
	}
	if o.Coalesce <= 0 {
		o.Coalesce = 2 * time.Second
	}
	if o.MinInterval < 0 {
		o.MinInterval = 0
	} else if o.MinInterval == 0 {
		o.MinInterval = 10 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = 200
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Count == nil {
		o.Count = func(string, string, int) {}
	}
	return o
}

// Notifier queues events and delivers them to its targets. Create it with
// New, start delivery with Run; Notify is safe for concurrent use and
// never blocks.
type Notifier struct {
	opts    Options
	senders []*sender
}

// New returns a notifier for targets. With no target, Notify does nothing.
func New(targets []Target, o Options) *Notifier {
	o = o.withDefaults()
	n := &Notifier{opts: o}
	for _, t := range targets {
		n.senders = append(n.senders, &sender{target: t, opts: o, wake: make(chan struct{}, 1)})
	}
	return n
}

// Targets is the number of targets.
func (n *Notifier) Targets() int { return len(n.senders) }

// Notify queues events for every target. It never blocks; a full queue
// drops its oldest events.
func (n *Notifier) Notify(events ...Event) {
	if n == nil || len(events) == 0 {
		return
	}
	for _, s := range n.senders {
		s.add(events)
	}
}

// Run delivers until ctx ends. Events still queued then are dropped (and
// counted).
func (n *Notifier) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range n.senders {
		wg.Go(func() { s.run(ctx) })
	}
	wg.Wait()
}

// sender delivers to one target.
type sender struct {
	target Target
	opts   Options
	wake   chan struct{}

	mu      sync.Mutex
	queue   []Event
	dropped int // since the last message
}

func (s *sender) add(events []Event) {
	s.mu.Lock()
	s.queue = append(s.queue, events...)
	if over := len(s.queue) - s.opts.MaxQueue; over > 0 {
		s.queue = append([]Event(nil), s.queue[over:]...)
		s.dropped += over
		s.opts.Count(s.target.Name, "dropped", over)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sender) take() ([]Event, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, d := s.queue, s.dropped
	s.queue, s.dropped = nil, 0
	return q, d
}

func (s *sender) run(ctx context.Context) {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			if q, _ := s.take(); len(q) > 0 {
				s.opts.Count(s.target.Name, "dropped", len(q))
				s.opts.Log.Warn("notifications not sent: stopping", "target", s.target.Name, "events", len(q))
			}
			return
		case <-s.wake:
		}
		// Let the burst grow, and keep messages MinInterval apart.
		wait := s.opts.Coalesce
		if !last.IsZero() {
			wait = max(wait, time.Until(last.Add(s.opts.MinInterval)))
		}
		if !sleep(ctx, wait) {
			continue // ctx ended: the next loop drops and returns
		}
		events, dropped := s.take()
		if len(events) == 0 {
			continue
		}
		s.deliver(ctx, events, dropped)
		last = time.Now() // the next message waits MinInterval from the end of this one
	}
}

// deliver sends one message, retrying within bounds.
func (s *sender) deliver(ctx context.Context, events []Event, dropped int) {
	body, ctype, err := s.encode(events, dropped)
	if err != nil {
		s.opts.Log.Error("notification not encoded", "target", s.target.Name, "err", err)
		return
	}
	backoff := s.opts.Backoff
	for attempt := 1; ; attempt++ {
		retryAfter, err := s.post(ctx, body, ctype)
		if err == nil {
			s.opts.Count(s.target.Name, "sent", len(events))
			s.opts.Log.Debug("notification sent", "target", s.target.Name, "events", len(events), "attempt", attempt)
			return
		}
		var perm *permanentError
		if errors.As(err, &perm) || attempt >= s.opts.Attempts || ctx.Err() != nil {
			s.opts.Count(s.target.Name, "failed", 1)
			s.opts.Count(s.target.Name, "dropped", len(events))
			s.opts.Log.Warn("notification not delivered; given up", "target", s.target.Name, "events", len(events), "attempts", attempt, "err", err)
			return
		}
		wait := backoff
		if retryAfter > 0 {
			wait = retryAfter
		}
		wait = min(wait, s.opts.MaxBackoff)
		s.opts.Count(s.target.Name, "retried", 1)
		s.opts.Log.Info("notification failed; retrying", "target", s.target.Name, "attempt", attempt, "retry", wait, "err", err)
		if !sleep(ctx, wait) {
			s.opts.Count(s.target.Name, "dropped", len(events))
			return
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

// payload is the JSON format's body.
type payload struct {
	Source  string  `json:"source"`
	Count   int     `json:"count"`
	Dropped int     `json:"dropped,omitempty"`
	Events  []Event `json:"events"`
}

func (s *sender) encode(events []Event, dropped int) ([]byte, string, error) {
	var v any = payload{Source: s.opts.Source, Count: len(events), Dropped: dropped, Events: events}
	if s.target.Format == Slack {
		v = map[string]string{"text": slackText(s.opts.Source, events, dropped)}
	}
	b, err := json.Marshal(v)
	return b, "application/json", err
}

// permanentError is a failure that retrying cannot change (a 4xx answer).
type permanentError struct{ why string }

func (e *permanentError) Error() string { return e.why }

// post sends one request. The error never quotes the URL.
func (s *sender) post(ctx context.Context, body []byte, ctype string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.target.URL, bytes.NewReader(body))
	if err != nil {
		return 0, &permanentError{why: "not a valid URL (not shown: it may hold a secret)"}
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", s.opts.Source)
	if len(s.target.Secret) > 0 && s.target.Format != Slack {
		m := hmac.New(sha256.New, s.target.Secret)
		m.Write(body)
		req.Header.Set("X-Rensei-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // *url.Error quotes the URL, which holds the secret
		}
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return 0, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return 0, &permanentError{why: fmt.Sprintf("refused with %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))}
}

// retryAfter reads a Retry-After of seconds (a date is ignored).
func retryAfter(h string) time.Duration {
	if n, err := strconv.Atoi(h); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 0
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
