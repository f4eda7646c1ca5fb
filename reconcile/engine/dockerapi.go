package engine

import (
	"errors"
	"fmt"
	"sync"

	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/drivers/docker"
	"github.com/rensei-dev/rensei/schema"
)

// Engines are Docker API clients of a topology's hosts, for what the
// drivers do not do: reading a container's state and times, running a
// command in it, reading its logs. Clients are opened on first use, one
// per host, and are safe for concurrent use. The zero value is not usable;
// see NewEngines.
type Engines struct {
	topo    *schema.Topology
	mu      sync.Mutex
	clients map[string]*client.Client
}

// NewEngines returns the clients of topo's hosts. Nothing is contacted
// until a client is used.
func NewEngines(topo *schema.Topology) *Engines {
	return &Engines{topo: topo, clients: map[string]*client.Client{}}
}

// Close releases every client opened.
func (e *Engines) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, c := range e.clients {
		errs = append(errs, c.Close())
	}
	e.clients = map[string]*client.Client{}
	return errors.Join(errs...)
}

// client returns the client of the host key ("site/host").
func (e *Engines) client(key string) (*client.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.clients[key]; ok {
		return c, nil
	}
	h, ok := e.host(key)
	if !ok {
		return nil, fmt.Errorf("host %s: not in the topology", key)
	}
	c, err := dockerClient(h)
	if err != nil {
		return nil, fmt.Errorf("host %s: docker %s: %w", key, h.Docker, err)
	}
	e.clients[key] = c
	return c, nil
}

func (e *Engines) host(key string) (schema.Host, bool) {
	for _, s := range e.topo.Sites {
		for _, h := range s.Hosts {
			if s.Name+"/"+h.Name == key {
				return h, true
			}
		}
	}
	return schema.Host{}, false
}

// dockerClient opens a client of a host's engine as the docker driver
// does, for the calls the driver does not make (inspect, exec, logs).
func dockerClient(h schema.Host) (*client.Client, error) {
	var tls *docker.TLSFiles
	if h.TLS != nil {
		tls = &docker.TLSFiles{CA: h.TLS.CA, Cert: h.TLS.Cert, Key: h.TLS.Key}
	}
	return docker.NewClient(h.Docker, tls)
}
