// Package fakeengine is an in-process fake of the Docker Engine HTTP API
// (version 1.41), so that one test process can stand in for many Docker
// hosts. Each Engine listens on a unix socket (and optionally on a loopback
// TCP port); the real github.com/docker/docker/client, and therefore
// drivers/docker, talks to it unchanged. A negotiating client settles on
// API 1.41; one pinned to a newer version is refused, as by a 1.41 dockerd.
//
// An Engine models containers, networks, IPAM, published ports, volumes,
// images and the event stream in memory, with the real engine's rules and
// error messages where tests depend on them (name conflicts, overlapping
// subnets, addresses and ports in use, volumes in use, networks with active
// endpoints, missing images). No process runs: a "running" container is a
// state, and files copied into it are kept as bytes. What is and is not
// modelled is listed on Start.
//
// Engines are safe for concurrent use and cheap (a few KiB per container),
// so a test can run a hundred of them with hundreds of containers each.
// Latency and faults can be injected per API call, and an engine can be
// taken down and brought back to simulate an unreachable host.
//
// The package never imports "testing": benchmarks and helper binaries use it
// too. Helpers that read the model directly (Containers, Networks, ...) live
// in view.go.
package fakeengine

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
)

// APIVersion is the only API version the fake speaks; /_ping announces it,
// so a negotiating client settles on it.
const APIVersion = "1.41"

// minAPIVersion is the oldest version prefix the fake accepts, as dockerd.
const minAPIVersion = "1.24"

// DefaultServerVersion is the engine version /version reports unless
// Options.Version says otherwise.
const DefaultServerVersion = "28.5.2"

// socketName is the file name of the unix socket inside the engine's directory.
const socketName = "docker.sock"

// maxSocketPath is the longest unix socket path Linux accepts (sun_path
// holds 108 bytes including the terminating NUL).
const maxSocketPath = 107

// Options configures an Engine. The zero value is a working engine with no
// images, no latency and no TCP listener.
type Options struct {
	// Name is the engine's name in /info (Name) and in event logs; empty
	// means the base name of the directory.
	Name string
	// Version is reported by /version and the Server header; empty means
	// DefaultServerVersion.
	Version string
	// Images are present from the start: reference ("busybox",
	// "rensei/busybox:latest") → image ID ("sha256:<64 hex>"). An empty ID
	// derives a stable one from the reference, the same on every engine.
	Images map[string]string
	// Registry lists what a pull can fetch, in the same form as Images. A
	// pull of anything else fails as with no registry reachable.
	Registry map[string]string
	// Latency delays every API call before it is handled (the client's
	// context still cancels the wait).
	Latency time.Duration
	// PerCall replaces Latency for the calls it names. Call names are the
	// client's method names: "ContainerList", "ContainerCreate", "Ping", ...
	// (CallNames lists them all).
	PerCall map[string]time.Duration
	// TCP also serves the API on 127.0.0.1 on a free port (see TCPHost).
	TCP bool
}

// Engine is one fake Docker engine. All methods are safe for concurrent use.
type Engine struct {
	name    string
	version string
	dir     string
	sock    string

	mu         sync.Mutex // guards the model below
	containers map[string]*ctr
	ctrNames   map[string]string // name (without "/") → container ID
	networks   map[string]*netw
	netNames   map[string]string // network name → network ID
	volumes    map[string]*vol
	images     map[string]*img          // image ID → image
	tags       map[string]string        // normalized reference → image ID
	registry   map[string]string        // normalized reference → image ID
	hostPorts  map[portKey][]portHolder // published host ports of running containers
	events     eventLog
	seq        uint64 // creation order of containers
	pid        int    // last fake PID handed out

	faults faults // latency, injected faults, call counters

	smu     sync.Mutex // guards the serving state below
	srv     *http.Server
	lns     []net.Listener
	tcpAddr string // "127.0.0.1:port" once TCP was asked for
	down    bool
	closed  bool
	done    chan struct{} // closed by Close: ends streams and waits
	// live is read-held by every handler; Close takes it to wait for them
	// (a WaitGroup would race with a request arriving as Close waits).
	live sync.RWMutex
}

// Start creates dir if needed and serves a new engine on dir/docker.sock
// (and on 127.0.0.1 when opts.TCP). It fails if the socket path is too long
// for a unix socket, if a listener cannot be opened, or if an image ID in
// opts is malformed. The caller must Close the engine.
//
// Modelled, with dockerd's order of checks, status codes and messages:
// containers (create, start, stop, kill, pause, unpause, remove, inspect,
// list with the ancestor, exited, id, label, name, network, status and
// volume filters, archive upload, download and stat), restart policies on
// Exit, networks (bridge driver, one IPv4 IPAM config with subnet,
// ip-range and gateway, default address pools, overlap and bridge-name
// conflicts, connect and disconnect), static and lowest-free dynamic IPv4
// addresses, published ports (0.0.0.0 and :: unless a host IP is given,
// ephemeral ports from 32768), named and anonymous volumes (created by
// mounts when missing), images (inspect, list, tag, remove, pull from
// Options.Registry, save and load in a docker-save-like tar), events (the
// last 256 kept for since/until replay, dockerd's filters) and /_ping,
// /version and /info.
//
// Not modelled: processes (stop exits at once with code 0, no timeout),
// logs, exec, attach, wait, stats, healthchecks, restart back-off, IPv6,
// DNS and links, "container:" network mode, network drivers other than
// bridge, swarm, plugins, builds, image layers and registry auth, volume
// contents, bind-mount sources (any absolute path is accepted), the host's
// own ports (only the engine's containers conflict), and files other than
// those uploaded (any directory exists as an upload target). List filters
// before, since, health, publish and expose are accepted and ignored.
func Start(dir string, opts Options) (*Engine, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fakeengine: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fakeengine: %w", err)
	}
	sock := filepath.Join(abs, socketName)
	if len(sock) > maxSocketPath {
		return nil, fmt.Errorf("fakeengine: socket path %s is longer than %d bytes", sock, maxSocketPath)
	}
	e := &Engine{
		name:       opts.Name,
		version:    opts.Version,
		dir:        abs,
		sock:       sock,
		containers: map[string]*ctr{},
		ctrNames:   map[string]string{},
		networks:   map[string]*netw{},
		netNames:   map[string]string{},
		volumes:    map[string]*vol{},
		images:     map[string]*img{},
		tags:       map[string]string{},
		registry:   map[string]string{},
		hostPorts:  map[portKey][]portHolder{},
		done:       make(chan struct{}),
	}
	if e.name == "" {
		e.name = filepath.Base(abs)
	}
	if e.version == "" {
		e.version = DefaultServerVersion
	}
	e.faults.init(opts.Latency, opts.PerCall)
	e.addPredefinedNetworks()
	for ref, id := range opts.Images {
		if _, err := e.AddImage(ref, id); err != nil {
			return nil, err
		}
	}
	for ref, id := range opts.Registry {
		if err := e.addRegistry(ref, id); err != nil {
			return nil, err
		}
	}
	if opts.TCP {
		e.tcpAddr = "127.0.0.1:0"
	}
	if err := e.Up(); err != nil {
		return nil, err
	}
	return e, nil
}

// Host returns the engine's endpoint, unix:///<dir>/docker.sock.
func (e *Engine) Host() string { return "unix://" + e.sock }

// TCPHost returns tcp://127.0.0.1:<port>, or "" when Options.TCP was not set.
func (e *Engine) TCPHost() string {
	e.smu.Lock()
	defer e.smu.Unlock()
	if e.tcpAddr == "" {
		return ""
	}
	return "tcp://" + e.tcpAddr
}

// Name returns the engine's name (Options.Name or the directory's base name).
func (e *Engine) Name() string { return e.name }

// Down makes the engine unreachable, as a host whose dockerd died: the
// listeners close, open connections (event streams included) are cut, and
// new connections are refused, since the socket file stays behind. The model
// is kept; Up serves it again. Down on a down engine does nothing.
func (e *Engine) Down() {
	e.smu.Lock()
	defer e.smu.Unlock()
	if e.down || e.closed {
		return
	}
	e.down = true
	for _, l := range e.lns {
		if ul, ok := l.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(false)
		}
	}
	_ = e.srv.Close() // closes the listeners and every connection
	e.srv, e.lns = nil, nil
}

// Up serves the engine again after Down, on the same socket path and TCP
// port. It fails when a listener cannot be reopened (the TCP port was taken
// meanwhile) or the engine is closed. Up on a serving engine does nothing.
func (e *Engine) Up() error {
	e.smu.Lock()
	defer e.smu.Unlock()
	if e.closed {
		return errors.New("fakeengine: engine is closed")
	}
	if e.srv != nil {
		return nil
	}
	_ = os.Remove(e.sock)
	ul, err := net.Listen("unix", e.sock)
	if err != nil {
		return fmt.Errorf("fakeengine: %w", err)
	}
	lns := []net.Listener{ul}
	if e.tcpAddr != "" {
		tl, err := net.Listen("tcp", e.tcpAddr)
		if err != nil {
			ul.Close()
			return fmt.Errorf("fakeengine: %w", err)
		}
		e.tcpAddr = tl.Addr().String()
		lns = append(lns, tl)
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 30 * time.Second}
	for _, l := range lns {
		go func() { _ = srv.Serve(l) }()
	}
	e.srv, e.lns, e.down = srv, lns, false
	return nil
}

// IsDown reports whether the engine is down (Down without a later Up).
func (e *Engine) IsDown() bool {
	e.smu.Lock()
	defer e.smu.Unlock()
	return e.down
}

// Close stops serving for good, ends every stream and hanging call, waits
// for the handlers to return and removes the socket. It is idempotent.
func (e *Engine) Close() error {
	e.smu.Lock()
	if e.closed {
		e.smu.Unlock()
		return nil
	}
	e.closed = true
	close(e.done)
	if e.srv != nil {
		_ = e.srv.Close()
		e.srv, e.lns = nil, nil
	}
	e.smu.Unlock()
	e.live.Lock() // every handler has returned; later ones see done closed
	e.mu.Lock()
	e.events.closeAll()
	e.mu.Unlock()
	e.live.Unlock()
	if err := os.Remove(e.sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("fakeengine: %w", err)
	}
	return nil
}

// newID returns a random 64-hex-digit object ID, as the engine's.
func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// shortID is the 12-digit form of an ID.
func shortID(id string) string { return id[:min(12, len(id))] }

// emit records an event of the engine; e.mu must be held.
func (e *Engine) emit(typ events.Type, action events.Action, id string, attrs map[string]string) {
	e.events.publish(typ, action, id, attrs)
}
