// Command build builds the local images that Rensei's examples and tests run
// (make images) on the engine named by DOCKER_HOST, or the local one.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/docker/docker/client"
	"github.com/rensei-dev/rensei/test/images"
)

func main() {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
	defer cli.Close()
	if err := images.Build(context.Background(), cli, images.Busybox); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
	fmt.Println("built", images.Busybox)
}
