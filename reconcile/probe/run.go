package probe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/rensei-dev/rensei/drivers/netlink"
)

// Options bound a round of probes.
type Options struct {
	// Timeout bounds the wait for each echo reply (default 1 s).
	Timeout time.Duration
	// Attempts is how many echoes of each kind are sent before the link
	// is called broken: one lost packet is not an outage (default 2).
	Attempts int
	// Parallel is how many links are probed at once (default 16).
	Parallel int
}

// Defaults of Options.
const (
	DefaultTimeout  = time.Second
	DefaultAttempts = 2
	DefaultParallel = 16
	// smallSize is the small echo's IPv4 packet size, as ping's default.
	smallSize = 84
)

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	return o
}

// Result is what one round found of one link.
type Result struct {
	Link
	OK    bool          `json:"ok"`    // the small echo came back
	MTUOK bool          `json:"mtuOk"` // the full-size one with don't-fragment too
	RTT   time.Duration `json:"rtt"`   // of the small echo
	// Error says what failed, in words that stay the same while the
	// failure does (they end up in committed reports).
	Error string    `json:"error,omitempty"`
	At    time.Time `json:"at"`
}

// Run probes every link whose host has a pinger, in parallel within
// o.Parallel, and returns one result per probed link in the order of
// links. Links of hosts without a pinger are left out. It sends a small
// echo (up to o.Attempts, until one comes back), then, when the link is
// up, an echo of the link's MTU with don't-fragment (as many attempts).
// A round over healthy links costs a few round-trip times; a broken link
// costs about o.Attempts × o.Timeout.
func Run(ctx context.Context, links []Link, pingers func(host string) Pinger, o Options) []Result {
	o = o.withDefaults()
	out := make([]*Result, len(links))
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, l := range links {
		p := pingers(l.Host)
		if p == nil {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := one(ctx, p, l, o)
			out[i] = &r
		})
	}
	wg.Wait()
	var res []Result
	for _, r := range out {
		if r != nil {
			res = append(res, *r)
		}
	}
	return res
}

// one probes one link.
func one(ctx context.Context, p Pinger, l Link, o Options) Result {
	r := Result{Link: l, At: time.Now()}
	echo := netlink.Echo{Dev: l.Dev, Src: l.Src, Dst: l.Dst, Size: smallSize, Timeout: o.Timeout}
	rtt, err := attempt(ctx, p, echo, o.Attempts)
	if err != nil {
		r.Error = "no answer across the overlay: " + describe(err, o)
		return r
	}
	r.OK, r.RTT = true, rtt
	if l.MTU <= smallSize {
		r.MTUOK = true
		return r
	}
	echo.Size, echo.DF = l.MTU, true
	if _, err := attempt(ctx, p, echo, o.Attempts); err != nil {
		r.Error = fmt.Sprintf("a full-size packet (%d bytes, don't fragment) does not pass: %s", l.MTU, describe(err, o))
		return r
	}
	r.MTUOK = true
	return r
}

// attempt pings until a reply comes back, an answer says it never will
// (fragmentation needed, a local error), or the attempts run out.
func attempt(ctx context.Context, p Pinger, e netlink.Echo, attempts int) (time.Duration, error) {
	var err error
	for range attempts {
		var rtt time.Duration
		rtt, err = p.Ping(ctx, e)
		if err == nil {
			return rtt, nil
		}
		if !errors.Is(err, netlink.ErrNoReply) || ctx.Err() != nil {
			return 0, err
		}
	}
	return 0, err
}

// describe is an error in words that stay the same while the failure does.
func describe(err error, o Options) string {
	var frag *netlink.FragNeededError
	var unreach *netlink.UnreachableError
	switch {
	case errors.Is(err, netlink.ErrNoReply):
		return fmt.Sprintf("no echo reply to %d requests within %s each (lost on the way)", o.Attempts, o.Timeout)
	case errors.As(err, &frag):
		return fmt.Sprintf("MTU black hole: fragmentation needed, next-hop MTU %d", frag.MTU)
	case errors.As(err, &unreach):
		return fmt.Sprintf("destination unreachable (ICMP code %d)", unreach.Code)
	case errors.Is(err, syscall.EMSGSIZE):
		return "larger than the bridge's own MTU"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "probe interrupted"
	}
	return err.Error()
}
