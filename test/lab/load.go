package lab

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/images"
)

// LoadImages copies images (tags) from this machine's engine into every
// site engine present, all sites at once: each is saved from the host
// engine, loaded into the site and checked by image ID (images.Copy); a
// site that already has the same ID is left alone. Build the images first
// (make images, or images.Build): a tag the host engine lacks is an error
// naming it.
func LoadImages(ctx context.Context, opts Options, tags ...string) error {
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	host, err := client.NewClientWithOpts(client.WithHost(hostDocker), client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("lab: host engine: %w", err)
	}
	defer host.Close()
	for _, tag := range tags {
		if _, err := host.ImageInspect(ctx, tag); err != nil {
			return fmt.Errorf("lab: image %s is not on this machine's engine (build it: make images): %w", tag, err)
		}
	}
	sites := present(o)
	if len(sites) == 0 {
		return errors.New("lab: no site is up (rensei lab up)")
	}
	errs := make([]error, len(sites))
	var wg sync.WaitGroup
	for i, s := range sites {
		wg.Go(func() {
			cli, err := siteClient(s)
			if err != nil {
				errs[i] = err
				return
			}
			defer cli.Close()
			for _, tag := range tags {
				start := time.Now()
				if err := images.Copy(ctx, host, cli, tag); err != nil {
					errs[i] = errors.Join(errs[i], fmt.Errorf("%s: %w", s.name, err))
					continue
				}
				s.log.Info("image loaded", "action", "load", "name", tag, "elapsed", time.Since(start).Round(time.Millisecond))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
