package docker

import (
	"strconv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/rensei-dev/rensei/drivers"
)

// containerConfig translates a spec into the three structures of the create
// call. Only the first network is attached at create time (the API takes
// one endpoint there on older engines); the rest are connected before start.
func containerConfig(spec drivers.ContainerSpec) (*container.Config, *container.HostConfig, *network.NetworkingConfig) {
	cfg := &container.Config{
		Hostname: spec.Hostname,
		Image:    spec.Image,
		Cmd:      spec.Command,
		Env:      spec.Env,
		Labels:   ownedLabels(spec.Labels),
	}
	if spec.StopTimeout > 0 {
		timeout := spec.StopTimeout
		cfg.StopTimeout, cfg.StopSignal = &timeout, spec.StopSignal
	}
	host := &container.HostConfig{
		RestartPolicy: restartPolicy(spec.Restart),
		Resources: container.Resources{
			NanoCPUs: spec.NanoCPUs,
			Memory:   spec.Memory,
		},
	}
	sec := spec.Security
	if sec.PidsLimit > 0 {
		host.Resources.PidsLimit = &sec.PidsLimit
	}
	if sec.NoNewPrivileges {
		host.SecurityOpt = append(host.SecurityOpt, "no-new-privileges:true")
	}
	if sec.LogMaxSize != "" || sec.LogMaxFiles > 0 {
		host.LogConfig = container.LogConfig{Type: "json-file", Config: map[string]string{}}
		if sec.LogMaxSize != "" {
			host.LogConfig.Config["max-size"] = sec.LogMaxSize
		}
		if sec.LogMaxFiles > 0 {
			host.LogConfig.Config["max-file"] = strconv.Itoa(sec.LogMaxFiles)
		}
	}
	for _, m := range spec.Mounts {
		host.Mounts = append(host.Mounts, mount.Mount{
			Type:     mount.TypeVolume,
			Source:   m.Volume,
			Target:   m.Target,
			ReadOnly: m.ReadOnly,
		})
	}
	if len(spec.Ports) > 0 {
		cfg.ExposedPorts = nat.PortSet{}
		host.PortBindings = nat.PortMap{}
		for _, p := range spec.Ports {
			port := natPort(p)
			cfg.ExposedPorts[port] = struct{}{}
			hostPort := ""
			if p.Host != 0 {
				hostPort = strconv.Itoa(p.Host)
			}
			host.PortBindings[port] = append(host.PortBindings[port], nat.PortBinding{HostIP: p.HostIP, HostPort: hostPort})
		}
	}
	var net *network.NetworkingConfig
	if len(spec.Networks) > 0 {
		first := spec.Networks[0]
		host.NetworkMode = container.NetworkMode(first.Network)
		net = &network.NetworkingConfig{
			EndpointsConfig: map[string]*network.EndpointSettings{first.Network: endpoint(first)},
		}
	}
	return cfg, host, net
}

// endpoint is the endpoint configuration of one network attachment.
func endpoint(att drivers.NetworkAttach) *network.EndpointSettings {
	ep := &network.EndpointSettings{Aliases: att.Aliases}
	if att.IPv4 != "" {
		ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: att.IPv4}
	}
	return ep
}

// restartPolicy maps the spec's restart word; empty means "no".
func restartPolicy(s string) container.RestartPolicy {
	if s == "" {
		s = string(container.RestartPolicyDisabled)
	}
	return container.RestartPolicy{Name: container.RestartPolicyMode(s)}
}

// natPort is the port key of a binding; the protocol defaults to tcp.
func natPort(p drivers.PortBinding) nat.Port {
	proto := p.Protocol
	if proto == "" {
		proto = "tcp"
	}
	return nat.Port(strconv.Itoa(p.Container) + "/" + proto)
}
