// Command build builds Rensei's images (the base from mmdebstrap, then every
// image directory of images/, parents first) on the Docker engine of
// DOCKER_HOST, or the local socket, and prints each image's tag, ID, size and
// whether it was already there.
//
//	go run ./images/build [-force] [-v] [NAME...]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/images"
)

func main() {
	force := flag.Bool("force", false, "build even when an image with the same content hash exists, without the layer cache")
	verbose := flag.Bool("v", false, "log the build output")
	list := flag.Bool("list", false, "print the images and their tags in build order, and build nothing")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: build [-force] [-v] [-list] [NAME...]\n\nNAME is an image directory (base, notebook, ...) or tag; none means all.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*force, *verbose, *list, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
}

func run(force, verbose, list bool, names []string) error {
	tree, err := images.Embedded()
	if err != nil {
		return err
	}
	if list {
		imgs, err := tree.Closure(names...)
		if err != nil {
			return err
		}
		for _, img := range imgs {
			fmt.Printf("%s\t%s\t%.12s\n", img.Name, img.Tag, img.Hash)
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	start := time.Now()
	built, err := images.Build(ctx, cli, images.Options{Names: names, Force: force, Tree: tree, Logger: log})
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "TAG\tID\tSIZE\tSTATE\tTIME")
	for _, b := range built {
		state := "built"
		if b.Cached {
			state = "cached"
		}
		fmt.Fprintf(w, "%s\t%.19s\t%.1f MB\t%s\t%s\n", b.Tag, b.ID, float64(b.Size)/1e6, state, b.Duration.Round(10*time.Millisecond))
	}
	w.Flush()
	fmt.Printf("%d images in %s\n", len(built), time.Since(start).Round(10*time.Millisecond))
	return err
}
