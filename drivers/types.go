package drivers

import "time"

// ContainerSpec is the desired state of one container.
type ContainerSpec struct {
	Name     string            `json:"name"`
	Hostname string            `json:"hostname"`
	Image    string            `json:"image"`
	Command  []string          `json:"command,omitempty"`
	Env      []string          `json:"env,omitempty"` // KEY=value, sorted
	Labels   map[string]string `json:"labels"`        // includes every io.rensei.* label
	Restart  string            `json:"restart"`
	NanoCPUs int64             `json:"nanoCpus,omitempty"`
	Memory   int64             `json:"memory,omitempty"` // bytes
	Networks []NetworkAttach   `json:"networks,omitempty"`
	Mounts   []Mount           `json:"mounts,omitempty"`
	Files    []File            `json:"files,omitempty"`
	Ports    []PortBinding     `json:"ports,omitempty"`
	Security Security          `json:"security"`
	// StopSignal and StopTimeout (seconds), when StopTimeout is set, stop
	// the container gracefully before it is removed.
	StopSignal  string `json:"stopSignal,omitempty"`
	StopTimeout int    `json:"stopTimeout,omitempty"`
}

// Security is what every container gets whatever its group says; only the
// deployment's policy sets it.
type Security struct {
	// PidsLimit bounds the processes of the container (0: none).
	PidsLimit int64 `json:"pidsLimit,omitempty"`
	// NoNewPrivileges: setuid binaries and file capabilities grant nothing.
	NoNewPrivileges bool `json:"noNewPrivileges,omitempty"`
	// LogMaxSize ("10m") and LogMaxFiles rotate the json-file log.
	LogMaxSize  string `json:"logMaxSize,omitempty"`
	LogMaxFiles int    `json:"logMaxFiles,omitempty"`
}

// SpecHash returns the io.rensei.spec-hash label of the spec.
func (c ContainerSpec) SpecHash() string { return c.Labels[LabelSpecHash] }

// NetworkAttach connects a container to a Docker network, optionally at a static address.
type NetworkAttach struct {
	Network string   `json:"network"`           // Docker network name
	IPv4    string   `json:"ipv4,omitempty"`    // static address, empty for dynamic
	Aliases []string `json:"aliases,omitempty"` // DNS aliases on that network
}

// Mount puts a named volume into a container.
type Mount struct {
	Volume   string `json:"volume"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// File is placed into the container before it starts.
type File struct {
	Path    string `json:"path"`
	Content string `json:"content"`
	Mode    int64  `json:"mode"`
}

// PortBinding publishes a container port on the host, on one address.
type PortBinding struct {
	Container int    `json:"container"`
	Host      int    `json:"host,omitempty"`
	Protocol  string `json:"protocol"`
	// HostIP is the host address the port is bound to; never all interfaces.
	HostIP string `json:"hostIp,omitempty"`
}

// Container is an owned container as observed.
type Container struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Image    string            `json:"image"`
	Running  bool              `json:"running"`
	Labels   map[string]string `json:"labels"`
	Networks map[string]string `json:"networks,omitempty"` // Docker network name → IPv4
	// HostPorts are the published host ports, as "tcp/8080".
	HostPorts []string `json:"hostPorts,omitempty"`
}

// SpecHash returns the io.rensei.spec-hash label.
func (c Container) SpecHash() string { return c.Labels[LabelSpecHash] }

// NetworkSpec is the desired state of a Docker bridge network on one host.
type NetworkSpec struct {
	Name    string            `json:"name"`   // Docker network name
	Bridge  string            `json:"bridge"` // Linux bridge name (≤ 15 bytes)
	Subnet  string            `json:"subnet"`
	IPRange string            `json:"ipRange"` // this host's block
	Gateway string            `json:"gateway"` // this host's gateway
	MTU     int               `json:"mtu"`
	Labels  map[string]string `json:"labels"`
}

// SpecHash returns the io.rensei.spec-hash label of the spec.
func (n NetworkSpec) SpecHash() string { return n.Labels[LabelSpecHash] }

// Network is an owned Docker network as observed.
type Network struct {
	ID     string            `json:"id"`
	Name   string            `json:"name"`
	Bridge string            `json:"bridge"`
	Subnet string            `json:"subnet,omitempty"` // first IPAM subnet
	Labels map[string]string `json:"labels"`
}

// SpecHash returns the io.rensei.spec-hash label.
func (n Network) SpecHash() string { return n.Labels[LabelSpecHash] }

// VolumeSpec is the desired state of a named volume.
type VolumeSpec struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

// Volume is an owned volume as observed.
type Volume struct {
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels"`
	CreatedAt time.Time         `json:"createdAt"`
}

// TunnelSpec is the desired state of one VXLAN device on one host.
type TunnelSpec struct {
	Name   string   `json:"name"`  // rs-vx-<vni>
	VNI    int      `json:"vni"`   // 1..16777215
	Local  string   `json:"local"` // this host's underlay address
	Port   int      `json:"port"`  // UDP destination port, 4789
	Bridge string   `json:"bridge"`
	MTU    int      `json:"mtu"`
	Peers  []string `json:"peers"`          // underlay addresses of the other hosts, sorted
	Rate   uint64   `json:"rate,omitempty"` // egress limit in bytes/s, 0 for none
	Owner  string   `json:"owner"`          // "<env>/<network>", stored as the alias rensei:<owner>
}

// Tunnel is an owned VXLAN device as observed.
type Tunnel struct {
	Name   string   `json:"name"`
	VNI    int      `json:"vni"`
	Local  string   `json:"local"`
	Port   int      `json:"port"`
	Bridge string   `json:"bridge"` // master's name, empty when detached
	MTU    int      `json:"mtu"`
	Up     bool     `json:"up"`
	Peers  []string `json:"peers"` // all-zero FDB destinations, sorted
	Rate   uint64   `json:"rate,omitempty"`
	Owner  string   `json:"owner"`
}
