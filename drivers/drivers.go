// Package drivers defines the small interfaces through which Rensei observes
// and changes live objects on one host (containers, networks, volumes,
// tunnels), the value types they exchange, and the sentinel errors every
// backend maps its failures onto. Implementations live in the sub-packages
// docker, netlink and fake.
//
// Every driver lists only the objects Rensei owns (labels io.rensei.* on
// Docker objects, the alias "rensei:<env>/<network>" on interfaces) and
// refuses to change anything else.
package drivers

import (
	"context"
	"errors"
	"io"
	"strings"
)

// Sentinel errors. Backends wrap them with %w so callers use errors.Is.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNotOwned: the object exists but is not Rensei's; it was not touched.
	ErrNotOwned = errors.New("not owned by rensei")
	// ErrUnreachable: the host (Docker engine, namespace) cannot be reached.
	ErrUnreachable = errors.New("host unreachable")
	// ErrImageMissing: the image is not on the host and could not be pulled.
	ErrImageMissing = errors.New("image missing")
)

// Label keys on every Docker object Rensei owns.
const (
	LabelManaged  = "io.rensei.managed"
	LabelEnv      = "io.rensei.env"
	LabelGroup    = "io.rensei.group"
	LabelInstance = "io.rensei.instance"
	LabelNetwork  = "io.rensei.network"
	LabelVolume   = "io.rensei.volume"
	LabelSpecHash = "io.rensei.spec-hash"
	// LabelSpecFields holds a short digest per field of the spec, so a plan
	// can say which fields changed without storing the whole spec.
	LabelSpecFields = "io.rensei.spec-fields"
	// LabelContent digests what an instance holds without any name in it
	// (image, command, variables, limits, files, ports, attachments and
	// mounts by logical name), so a rename can be told from an unrelated
	// removal and creation by content alone.
	LabelContent = "io.rensei.content"
	// LabelSecrets is a keyed digest of the secret values a container
	// uses (never a value): a rotation changes it and the spec hash.
	LabelSecrets = "io.rensei.secrets"
	LabelCommit  = "io.rensei.commit"
	// LabelScope separates Rensei deployments sharing one Docker engine
	// (e.g. two departments, or parallel test runs): a pass observes and
	// prunes only objects of its own scope. Absent means the default scope.
	LabelScope = "io.rensei.scope"
)

// Images reads and moves the images containers need on one host. Images
// are shared by everyone on an engine: Rensei adds them, never removes one.
type Images interface {
	// ID returns the image ID a reference (a tag) names on the host, or an
	// error wrapping ErrNotFound.
	ID(ctx context.Context, ref string) (string, error)
	// Pull fetches ref from its registry; an error wraps ErrImageMissing.
	Pull(ctx context.Context, ref string) error
	// Save streams the image ref as an archive (docker save).
	Save(ctx context.Context, ref string) (io.ReadCloser, error)
	// Load adds the images of an archive (docker load).
	Load(ctx context.Context, archive io.Reader) error
}

// AliasPrefix starts the alias of every Linux interface Rensei owns.
const AliasPrefix = "rensei:"

// TunnelOwner is a tunnel's owner, stored in its alias after AliasPrefix:
// "<env>/<network>" in the default scope, "<scope>:<env>/<network>" in others.
func TunnelOwner(scope, id string) string {
	if scope == "" {
		return id
	}
	return scope + ":" + id
}

// SplitOwner returns the scope and the "<env>/<network>" of a tunnel owner.
func SplitOwner(owner string) (scope, id string) {
	if s, rest, ok := strings.Cut(owner, ":"); ok {
		return s, rest
	}
	return "", owner
}

// EnvOfOwner is the environment of a tunnel's owner alias.
func EnvOfOwner(owner string) string {
	_, id := SplitOwner(owner)
	env, _, _ := strings.Cut(id, "/")
	return env
}

// Containers manages the containers Rensei owns on one host.
type Containers interface {
	// List returns only owned containers, running or not.
	List(ctx context.Context) ([]Container, error)
	// Ensure makes the container exist, with this spec, and run. A container
	// of that name with another spec hash is replaced; a stopped one is
	// started. A container of that name that Rensei does not own is left
	// alone and ErrNotOwned returned. Idempotent.
	Ensure(ctx context.Context, c ContainerSpec) error
	// Delete stops and removes an owned container; already gone is not an
	// error; not owned is ErrNotOwned. Volumes are never removed with it.
	Delete(ctx context.Context, name string) error
}

// ContainerLookup is implemented by container drivers that can list some
// of the owned containers: those with one of ids, and those named one of
// names (exactly), as List gives them; absent ones are left out. A cache
// of the list takes again only what its watch said changed.
type ContainerLookup interface {
	Lookup(ctx context.Context, ids, names []string) ([]Container, error)
}

// Networks manages the Docker bridge networks Rensei owns on one host.
type Networks interface {
	List(ctx context.Context) ([]Network, error)
	// Ensure creates the network or replaces it when its spec hash differs
	// (containers attached to it must have been removed first). Idempotent.
	Ensure(ctx context.Context, n NetworkSpec) error
	// Delete removes an owned network; already gone is not an error.
	Delete(ctx context.Context, name string) error
}

// Volumes manages the named volumes Rensei owns on one host.
type Volumes interface {
	List(ctx context.Context) ([]Volume, error)
	// Ensure creates the volume when missing. Idempotent; never changes data.
	Ensure(ctx context.Context, v VolumeSpec) error
	// Delete removes an owned volume and its data. Only explicit commands call it.
	Delete(ctx context.Context, name string) error
}

// Tunnels manages the VXLAN devices Rensei owns on one host.
type Tunnels interface {
	// List returns only owned devices, with their FDB entries, in one dump per kind.
	List(ctx context.Context) ([]Tunnel, error)
	// Ensure creates or corrects the device in place (master, MTU, FDB, rate). Idempotent.
	Ensure(ctx context.Context, t TunnelSpec) error
	// Delete removes an owned device; already gone is not an error.
	Delete(ctx context.Context, name string) error
}

// VolumeMounts is implemented by volume drivers that can tell which
// containers (any owner, running or not) mount each volume. Pruning needs
// it: a volume is kept whoever mounts it. Observation does not, so it is
// not part of Volumes.List.
type VolumeMounts interface {
	// MountedBy maps volume name → names of the containers that mount it.
	MountedBy(ctx context.Context) (map[string][]string, error)
}

// Owner says who holds a name on a host: an object Rensei manages (and of
// which deployment scope), or one it does not.
type Owner struct {
	Managed bool   `json:"managed"`
	Scope   string `json:"scope,omitempty"`
}

// String is "not managed by Rensei" or "deployment <scope>".
func (o Owner) String() string {
	switch {
	case !o.Managed:
		return "not managed by Rensei"
	case o.Scope == "":
		return "the default deployment"
	}
	return "deployment " + o.Scope
}

// Names is implemented by network and volume drivers that can list the
// name of every object on the host, Rensei's or not, with its owner, in
// one call: a plan must not make a container join a network or mount a
// volume that exists and is not its deployment's.
type Names interface {
	Names(ctx context.Context) (map[string]Owner, error)
}

// TunnelBulkDeleter is implemented by tunnel drivers that delete many
// devices in one batch (the kernel's per-device unregister cost is paid
// once rather than per device). Apply uses it for bulk teardown.
type TunnelBulkDeleter interface {
	DeleteMany(ctx context.Context, names []string) error
}

// HostStatus is what a host probe found.
type HostStatus struct {
	Reachable     bool   `json:"reachable"`
	DockerVersion string `json:"dockerVersion,omitempty"`
	UnderlayFound bool   `json:"underlayFound"`
	VXLAN         bool   `json:"vxlan"`
	Error         string `json:"error,omitempty"`
}

// Host bundles the drivers of one host. Tunnels may be nil where overlays are
// not managed (a single-host site without netlink access).
type Host struct {
	Name       string // "site/host"
	Containers Containers
	Networks   Networks
	Volumes    Volumes
	Tunnels    Tunnels
	// Images, when not nil, tells which images the host has and moves
	// them between hosts (an air-gapped site gets an image from another
	// host of the deployment).
	Images Images
	// Probe checks reachability; nil means always reachable.
	Probe func(ctx context.Context) HostStatus
	// Events, when not nil, subscribes to changes of owned objects on the
	// host (e.g. Docker events): each is a wake-up for the next pass, never
	// a state to act on. The channel closes when ctx ends.
	Events func(ctx context.Context) (<-chan struct{}, error)
}
