// Package docker implements Rensei's container, network and volume drivers
// against one Docker engine. It lists only objects labelled
// io.rensei.managed=true, never modifies or removes anything else, and maps
// engine failures onto the sentinels of package drivers (ErrNotFound,
// ErrNotOwned, ErrUnreachable, ErrImageMissing) so callers use errors.Is.
//
// One Driver serves one host and is safe for concurrent use.
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/drivers"
)

// TLSFiles names the PEM files used to reach a tcp:// endpoint over TLS.
type TLSFiles struct {
	CA   string // CA certificate that signed the engine's certificate
	Cert string // client certificate
	Key  string // client key
}

// Driver talks to one Docker engine on behalf of one host.
type Driver struct {
	cli      *client.Client
	host     string // "site/host", used in errors and logs
	endpoint string // as configured, for messages (the client's own URL is a placeholder over ssh)
	log      *slog.Logger
	// Scope is the deployment this driver acts for: objects of another
	// scope are never changed or deleted, and no container it makes joins
	// a network or mounts a volume of another scope. Set it before use.
	Scope string
}

// New returns a driver for the engine at endpoint, which is one of
// unix:///path/to/docker.sock, tcp://host:port (with TLS when tls is not nil)
// or ssh://[user@]host[:port] (through the ssh command running
// `docker system dial-stdio` on the remote side). host is the "site/host"
// name that errors and log lines carry. New does not contact the engine; use
// Probe for that. A nil log discards.
func New(endpoint string, tls *TLSFiles, host string, log *slog.Logger) (*Driver, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cli, err := NewClient(endpoint, tls)
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", host, err)
	}
	return &Driver{cli: cli, host: host, endpoint: endpoint, log: log.With("host", host)}, nil
}

// NewClient opens a Docker API client of the engine at endpoint (unix://,
// tcp:// with TLS when tls is not nil, or ssh:// through `ssh … docker
// system dial-stdio`), negotiating the API version. Nothing is contacted
// until it is used. The driver uses one; so does whatever needs the calls
// the driver does not make (exec, logs).
func NewClient(endpoint string, tls *TLSFiles) (*client.Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("docker endpoint %q: %w", endpoint, err)
	}
	opts := []client.Opt{client.WithAPIVersionNegotiation()}
	switch u.Scheme {
	case "unix":
		opts = append(opts, client.WithHost(endpoint))
	case "tcp":
		opts = append(opts, client.WithHost(endpoint))
		if tls != nil {
			opts = append(opts, client.WithTLSClientConfig(tls.CA, tls.Cert, tls.Key))
		}
	case "ssh":
		args, err := sshArgs(u)
		if err != nil {
			return nil, fmt.Errorf("docker endpoint %q: %w", endpoint, err)
		}
		// The URL host is a placeholder: every connection is a fresh ssh
		// process, so what the HTTP client thinks it dials does not matter.
		opts = append(opts,
			client.WithHost("http://docker.example.com"),
			client.WithDialContext(sshDialer(args)))
	default:
		return nil, fmt.Errorf("docker endpoint %q: scheme must be unix, tcp or ssh", endpoint)
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return cli, nil
}

// Close releases the client's idle connections (and ssh processes).
func (d *Driver) Close() error { return d.cli.Close() }

// Containers returns the driver's view of the host's containers.
func (d *Driver) Containers() Containers { return Containers{d: d} }

// Networks returns the driver's view of the host's bridge networks.
func (d *Driver) Networks() Networks { return Networks{d: d} }

// Volumes returns the driver's view of the host's named volumes.
func (d *Driver) Volumes() Volumes { return Volumes{d: d} }

// Host bundles the driver as a drivers.Host. Tunnels is nil: VXLAN devices
// belong to package netlink.
func (d *Driver) Host() drivers.Host {
	return drivers.Host{
		Name:       d.host,
		Containers: d.Containers(),
		Networks:   d.Networks(),
		Volumes:    d.Volumes(),
		Images:     d.Images(),
		Probe:      d.Probe,
		Events:     d.Events,
	}
}

// probeTimeout bounds a probe whose context has no deadline, so a hung ssh
// connection cannot stall the caller.
const probeTimeout = 10 * time.Second

// Probe pings the engine and reads its version. It never fails: an engine
// that cannot be reached gives Reachable false and the reason in Error,
// said once and without the host's name (whoever shows it names the
// host). UnderlayFound and VXLAN are left for the netlink driver to fill.
func (d *Driver) Probe(ctx context.Context) drivers.HostStatus {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, probeTimeout)
		defer cancel()
	}
	if _, err := d.cli.Ping(ctx); err != nil {
		return drivers.HostStatus{Error: d.cause(err)}
	}
	v, err := d.cli.ServerVersion(ctx)
	if err != nil {
		return drivers.HostStatus{Error: "engine version: " + d.cause(err)}
	}
	return drivers.HostStatus{Reachable: true, DockerVersion: v.Version}
}

// cause words why a request to the engine failed: ssh's own words over
// ssh; no wait beyond a deadline; otherwise the client's error without the
// request's URL (over ssh a placeholder that is no address at all).
func (d *Driver) cause(err error) string {
	var se *sshError
	if errors.As(err, &se) {
		return se.cause()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer from the Docker engine at " + d.endpoint + " in time"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "cannot reach the Docker engine at " + d.endpoint + ": " + ue.Err.Error()
	}
	return err.Error()
}

// fail builds the error for action on the object kind/name: it leads with
// the noun, names the host, and wraps the sentinel the engine error means.
func (d *Driver) fail(kind, name, action string, err error) error {
	noun := kind
	if name != "" {
		noun = kind + " " + name
	}
	if unreachable(err) && !errors.Is(err, drivers.ErrUnreachable) {
		return fmt.Errorf("%s on %s: %s: %w", noun, d.host, action, &unreachableError{cause: d.cause(err), err: err})
	}
	return fmt.Errorf("%s on %s: %s: %w", noun, d.host, action, classify(err))
}

// unreachableError is an engine that could not be talked to: it is
// drivers.ErrUnreachable, says why once, and keeps the client's error.
type unreachableError struct {
	cause string
	err   error
}

func (e *unreachableError) Error() string   { return "unreachable: " + e.cause }
func (e *unreachableError) Unwrap() []error { return []error{drivers.ErrUnreachable, e.err} }

// classify wraps err with the drivers sentinel it stands for, if any.
func classify(err error) error {
	switch {
	case errors.Is(err, drivers.ErrNotFound), errors.Is(err, drivers.ErrUnreachable),
		errors.Is(err, drivers.ErrNotOwned), errors.Is(err, drivers.ErrImageMissing):
		return err
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%w: %w", drivers.ErrNotFound, err)
	case unreachable(err):
		return fmt.Errorf("%w: %w", drivers.ErrUnreachable, err)
	}
	return err
}

// unreachable reports whether err means the engine could not be talked to at
// all (as opposed to the engine refusing a request).
func unreachable(err error) bool {
	if client.IsErrConnectionFailed(err) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	var dial *sshError
	return errors.As(err, &dial)
}

// isNotFound reports whether an engine error means the object is absent.
func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// owned reports whether labels mark an object as Rensei's.
func owned(labels map[string]string) bool { return labels[drivers.LabelManaged] == "true" }

// ownedInScope reports whether an object is Rensei's and belongs to the
// scope of the spec about to be ensured: an object of another deployment
// sharing the engine is not this one's to change.
func ownedInScope(labels, spec map[string]string) bool {
	return owned(labels) && labels[drivers.LabelScope] == spec[drivers.LabelScope]
}

// ours reports whether an object is Rensei's and of this driver's scope.
func (d *Driver) ours(labels map[string]string) bool {
	return owned(labels) && labels[drivers.LabelScope] == d.Scope
}

// ownerOf says who holds an object, from its labels.
func ownerOf(labels map[string]string) drivers.Owner {
	return drivers.Owner{Managed: owned(labels), Scope: labels[drivers.LabelScope]}
}

// ownedLabels returns a copy of labels that certainly carries the managed
// label, so nothing Rensei creates can later be mistaken for a foreign object.
func ownedLabels(labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels)+1)
	for k, v := range labels {
		out[k] = v
	}
	out[drivers.LabelManaged] = "true"
	return out
}

// notOwned is the error for an object of that name that Rensei must not touch.
func (d *Driver) notOwned(kind, name, action string) error {
	return fmt.Errorf("%s %s on %s: %s: %w (it lacks the label %s=true, or belongs to another %s)",
		kind, name, d.host, action, drivers.ErrNotOwned, drivers.LabelManaged, drivers.LabelScope)
}

// managedFilter selects the objects Rensei owns in one list call.
func managedFilter() filters.Args {
	return filters.NewArgs(filters.Arg("label", drivers.LabelManaged+"=true"))
}
