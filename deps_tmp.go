package rensei

import (
	_ "github.com/docker/docker/client"
	_ "github.com/docker/docker/api/types/container"
	_ "github.com/docker/docker/api/types/network"
	_ "github.com/docker/docker/api/types/volume"
	_ "github.com/docker/docker/api/types/image"
	_ "github.com/docker/docker/api/types/filters"
	_ "github.com/docker/docker/api/types/events"
	_ "github.com/docker/docker/pkg/stdcopy"
	_ "github.com/docker/go-connections/nat"
	_ "github.com/distribution/reference"
	_ "github.com/go-git/go-git/v5"
	_ "github.com/go-git/go-git/v5/plumbing/object"
	_ "github.com/google/go-jsonnet"
	_ "github.com/vishvananda/netlink"
	_ "github.com/vishvananda/netns"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/spf13/cobra"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/google/go-cmp/cmp"
)
