package netlink

import (
	"context"
	"errors"
	"time"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Retry bounds: at most retryAttempts tries, backing off from retryBase and
// doubling up to retryMax. Worst case about 1.5 s before giving up.
const (
	retryAttempts = 6
	retryBase     = 10 * time.Millisecond
	retryMax      = 500 * time.Millisecond
)

// transient reports whether a netlink error is worth retrying: the kernel was
// busy, or a dump raced with a change and may be inconsistent.
//
// EAGAIN is not among them: on these sockets it is what an expired receive
// timeout returns, and retrying a request the kernel never answered would
// multiply the wait instead of failing the step.
func transient(err error) bool {
	return errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EINTR) || errors.Is(err, vnl.ErrDumpInterrupted)
}

// retry runs op until it succeeds, fails with a non-transient error, the
// attempts run out, or ctx ends (then ctx's error joins the last one).
func retry(ctx context.Context, op func() error) error {
	delay := retryBase
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := op()
		if err == nil || !transient(err) || attempt == retryAttempts {
			return err
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return errors.Join(ctx.Err(), err)
		case <-timer.C:
		}
		delay = min(2*delay, retryMax)
	}
}

// retryValue is retry for operations that return a value, such as dumps.
func retryValue[T any](ctx context.Context, op func() (T, error)) (T, error) {
	var v T
	err := retry(ctx, func() error {
		var err error
		v, err = op()
		return err
	})
	return v, err
}
