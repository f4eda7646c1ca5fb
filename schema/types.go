// Package schema defines Rensei's configuration objects (sites, hosts,
// environments, networks, groups), loads them from a config repository of
// Jsonnet files (a directory or a Git revision), and validates them. Every
// validation problem is reported at once, each naming file and line.
package schema

// Topology is the whole desired configuration of one revision of a config
// repository: every site and every environment.
type Topology struct {
	Sites        []Site        `json:"sites"`
	Environments []Environment `json:"environments"`
	// Policy is IT's policy (policy/*.jsonnet), or DefaultPolicy when the
	// repository has none. Never nil after Load.
	Policy *Policy `json:"policy,omitempty"`
	// Warnings are what is allowed but worth saying (an engine reached
	// without TLS); each names its file and line.
	Warnings Problems `json:"warnings,omitempty"`
}

// Site is a place with Docker hosts: a campus, a cloud region, an emulated lab site.
type Site struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Hosts  []Host            `json:"hosts"`

	Source Source `json:"-"`
}

// Host is one Docker engine at a site and its VXLAN underlay endpoint.
type Host struct {
	Name string `json:"name"`
	// Docker is the engine endpoint: unix:///path, tcp://host:port, ssh://user@host.
	Docker string `json:"docker"`
	// TLS names the client certificate files for a tcp endpoint.
	TLS *TLS `json:"tls,omitempty"`
	// Insecure allows a tcp:// endpoint without TLS: anyone on the path
	// can run containers as root on the host. It is warned about.
	Insecure bool `json:"insecure,omitempty"`
	// Underlay is the host's VXLAN endpoint address.
	Underlay string `json:"underlay"`
	// Netns is the network namespace the host's interfaces live in (emulated
	// hosts); empty means the root namespace.
	Netns    string            `json:"netns,omitempty"`
	Capacity *Capacity         `json:"capacity,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	// Publish is the host address published ports bind to (the address
	// users reach); default 127.0.0.1, never all interfaces.
	Publish string `json:"publish,omitempty"`
	// LANs are the host's own networks (CIDRs); no overlay may overlap them.
	LANs []string `json:"lans,omitempty"`
}

// TLS holds the paths of the client certificate files for a tcp Docker endpoint.
type TLS struct {
	CA   string `json:"ca"`
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// Capacity is what a host offers; groups placed on it must fit.
type Capacity struct {
	CPUs   float64 `json:"cpus,omitempty"`
	Memory Bytes   `json:"memory,omitzero"` // e.g. "64Gi", "512Mi"
	// Containers caps the number of containers; 0 means no cap.
	Containers int `json:"containers,omitempty"`
}

// Environment is one virtual cloud: networks and container groups spread over sites.
type Environment struct {
	Name     string            `json:"name"`
	Owner    string            `json:"owner,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Active   *Window           `json:"active,omitempty"`
	Networks []Network         `json:"networks,omitempty"`
	Groups   []Group           `json:"groups,omitempty"`
	// Access says how members reach their instances (rensei access).
	Access *Access `json:"access,omitempty"`

	Source Source `json:"-"`
}

// Window is the time an environment is active: from (inclusive) until
// (exclusive), each an RFC 3339 time or a date (YYYY-MM-DD, midnight UTC).
// Either end may be omitted.
type Window struct {
	From  Time `json:"from,omitzero"`
	Until Time `json:"until,omitzero"`
}

// Network is an L2 overlay: one subnet, one VXLAN VNI, one Docker bridge network per host.
type Network struct {
	Name   string `json:"name"`
	Subnet string `json:"subnet"`
	// VNI is allocated deterministically when zero.
	VNI int `json:"vni,omitempty"`
	// MTU defaults to 1450 (VXLAN over a 1500-byte underlay).
	MTU int `json:"mtu,omitempty"`
	// HostPrefix is the prefix length of the per-host address blocks the
	// subnet is split into; default: the subnet's prefix + 3 (eight blocks).
	// The first block is kept for static addresses.
	HostPrefix int `json:"hostPrefix,omitempty"`
	// Bandwidth limits the tunnel's egress rate per host, e.g. "100mbit".
	Bandwidth Rate `json:"bandwidth,omitzero"`
}

// Group is a set of identical containers: replicas, or one per roster member.
type Group struct {
	Name    string            `json:"name"`
	Image   string            `json:"image"`
	Command []string          `json:"command,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	// Replicas is the number of instances, named 0..n-1. Mutually exclusive with Members.
	Replicas int `json:"replicas,omitempty"`
	// Members gives one instance per roster entry, named by the entry.
	Members   []string     `json:"members,omitempty"`
	Placement Placement    `json:"placement,omitempty"`
	Resources Resources    `json:"resources,omitempty"`
	Networks  []Attachment `json:"networks,omitempty"`
	Volumes   []Volume     `json:"volumes,omitempty"`
	Files     []File       `json:"files,omitempty"`
	Ports     []Port       `json:"ports,omitempty"`
	// Restart is the Docker restart policy: "no", "always", "unless-stopped"
	// (default) or "on-failure".
	Restart string `json:"restart,omitempty"`
	// Stop, when set, stops a container gracefully before it is removed
	// (replaced, deleted, its window closed): Signal, then Timeout
	// seconds for it to exit before it is killed. Without it a container
	// is killed at once (busybox sh as PID 1 ignores SIGTERM).
	Stop *Stop `json:"stop,omitempty"`
}

// Stop is how a group's containers are stopped before removal.
type Stop struct {
	Signal  string `json:"signal,omitempty"` // default SIGTERM
	Timeout int    `json:"timeout"`          // seconds, 1 to 600
}

// Placement says where a group's instances may run.
type Placement struct {
	Sites []string `json:"sites,omitempty"`
	// Strategy is "spread" (default: instances over all eligible hosts) or
	// "pack" (fill hosts in a fixed order).
	Strategy   string            `json:"strategy,omitempty"`
	HostLabels map[string]string `json:"hostLabels,omitempty"`
}

// Resources are per-instance limits, also counted against host capacity.
type Resources struct {
	CPUs   float64 `json:"cpus,omitempty"`
	Memory Bytes   `json:"memory,omitzero"`
}

// Attachment connects a group to a network of its environment.
type Attachment struct {
	Network string `json:"network"`
	// Address is a static IPv4 address; only for groups of one instance.
	Address string `json:"address,omitempty"`
	// Static asks Rensei for a static address per instance from the
	// network's static block, kept for the instance's life (adding or
	// removing members moves nobody's address). Others name it with
	// ${rensei:address:GROUP/INSTANCE} (see PlacementRef).
	Static  bool     `json:"static,omitempty"`
	Aliases []string `json:"aliases,omitempty"`
}

// Volume is a persistent named Docker volume mounted into the group's containers.
type Volume struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// Scope is "instance" (default: one volume per instance, e.g. a student's
	// home) or "environment" (one per host, shared by the environment's groups).
	Scope    string `json:"scope,omitempty"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// File is content rendered by Jsonnet and placed into the container before it starts.
type File struct {
	Path    string `json:"path"`
	Content string `json:"content"`
	Mode    int    `json:"mode,omitempty"` // default 0644
}

// Port publishes a container port on the host.
type Port struct {
	Container int    `json:"container"`
	Host      int    `json:"host,omitempty"`
	Protocol  string `json:"protocol,omitempty"` // tcp (default) or udp
}

// Source is where an object was defined: the file and, when known, the line.
type Source struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}
