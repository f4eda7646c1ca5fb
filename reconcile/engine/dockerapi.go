package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"sync"
	"time"

	"github.com/docker/docker/client"

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

// dockerClient opens a client of a host's engine the way package
// drivers/docker does: unix and tcp (with TLS when configured) directly,
// ssh through `ssh … docker system dial-stdio` on the remote side. The
// docker driver keeps its client to itself, so this is its twin for the
// calls it does not make (inspect, exec, logs).
func dockerClient(h schema.Host) (*client.Client, error) {
	u, err := url.Parse(h.Docker)
	if err != nil {
		return nil, err
	}
	opts := []client.Opt{client.WithAPIVersionNegotiation()}
	switch u.Scheme {
	case "unix":
		opts = append(opts, client.WithHost(h.Docker))
	case "tcp":
		opts = append(opts, client.WithHost(h.Docker))
		if h.TLS != nil {
			opts = append(opts, client.WithTLSClientConfig(h.TLS.CA, h.TLS.Cert, h.TLS.Key))
		}
	case "ssh":
		args, err := sshDialArgs(u)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithHost("http://docker.example.com"), client.WithDialContext(
			func(ctx context.Context, _, _ string) (net.Conn, error) { return dialSSH(ctx, args) }))
	default:
		return nil, errors.New("scheme must be unix, tcp or ssh")
	}
	return client.NewClientWithOpts(opts...)
}

// sshDialArgs are the ssh arguments that reach the remote engine's API
// on stdin and stdout, as drivers/docker builds them.
func sshDialArgs(u *url.URL) ([]string, error) {
	if u.Hostname() == "" {
		return nil, errors.New("ssh endpoint needs a host")
	}
	args := []string{"-o", "BatchMode=yes", "-o", "ConnectTimeout=10"}
	if u.User != nil && u.User.Username() != "" {
		args = append(args, "-l", u.User.Username())
	}
	if p := u.Port(); p != "" {
		args = append(args, "-p", p)
	}
	return append(args, "--", u.Hostname(), "docker", "system", "dial-stdio"), nil
}

// dialSSH starts one ssh process per connection; the connection is its
// standard input and output.
func dialSSH(ctx context.Context, args []string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cmd := exec.Command("ssh", args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ssh: %w", err)
	}
	return &sshConn{cmd: cmd, in: in, out: out}, nil
}

// sshConn is a net.Conn over a command's standard input and output.
// Deadlines are not supported; the HTTP client relies on contexts.
type sshConn struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  io.ReadCloser
	once sync.Once
}

func (c *sshConn) Read(p []byte) (int, error)  { return c.out.Read(p) }
func (c *sshConn) Write(p []byte) (int, error) { return c.in.Write(p) }

// CloseWrite ends the remote side's input: exec's stdin reached its end.
func (c *sshConn) CloseWrite() error { return c.in.Close() }

func (c *sshConn) Close() error {
	c.once.Do(func() {
		_ = c.in.Close()
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	})
	return nil
}

func (c *sshConn) LocalAddr() net.Addr              { return sshAddr{} }
func (c *sshConn) RemoteAddr() net.Addr             { return sshAddr{} }
func (c *sshConn) SetDeadline(time.Time) error      { return nil }
func (c *sshConn) SetReadDeadline(time.Time) error  { return nil }
func (c *sshConn) SetWriteDeadline(time.Time) error { return nil }

type sshAddr struct{}

func (sshAddr) Network() string { return "ssh" }
func (sshAddr) String() string  { return "ssh" }
