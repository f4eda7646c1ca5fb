package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// describeParallel bounds the inspect calls in flight per host.
const describeParallel = 8

// Describe fills in, for every instance with a container, what the
// drivers' list does not tell: Docker's state (exited, paused,
// restarting, …), the exit code, since when (started, or finished), and
// when it was made. Each host is asked in parallel, one inspect per
// container. An instance whose container vanished meanwhile becomes
// StateMissing when desired. The errors name the hosts that failed;
// their instances are left as they were.
func (e *Engines) Describe(ctx context.Context, l *InstanceList) error {
	byHost := map[string][]*Instance{}
	for k := range l.Instances {
		i := &l.Instances[k]
		if i.ID != "" {
			byHost[i.Host] = append(byHost[i.Host], i)
		}
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for host, rows := range byHost {
		wg.Go(func() {
			if err := e.describeHost(ctx, host, rows); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (e *Engines) describeHost(ctx context.Context, host string, rows []*Instance) error {
	cli, err := e.client(host)
	if err != nil {
		return err
	}
	sem := make(chan struct{}, describeParallel)
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for _, i := range rows {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := describe(ctx, cli, i); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("host %s: inspect container %s: %w", host, i.Container, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// describe inspects one instance's container.
func describe(ctx context.Context, cli *client.Client, i *Instance) error {
	c, err := cli.ContainerInspect(ctx, i.ID)
	switch {
	case cerrdefs.IsNotFound(err):
		i.ID = ""
		if i.Desired {
			i.State = StateMissing
		}
		return nil
	case err != nil:
		return err
	}
	fillInspect(i, c)
	return nil
}

// fillInspect copies Docker's view of the container's state.
func fillInspect(i *Instance, c container.InspectResponse) {
	i.Created = dockerTime(c.Created)
	if c.State == nil {
		return
	}
	i.State = string(c.State.Status)
	switch c.State.Status {
	case container.StateExited, container.StateDead:
		i.ExitCode = c.State.ExitCode
		i.Since = dockerTime(c.State.FinishedAt)
	case container.StateCreated:
		i.Since = i.Created
	default:
		i.Since = dockerTime(c.State.StartedAt)
	}
	if i.Since.IsZero() {
		i.Since = i.Created
	}
}

// dockerTime parses an engine timestamp; the engine's zero time and
// garbage are zero.
func dockerTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t.UTC()
}
