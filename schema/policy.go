package schema

import (
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// Policy is what campus IT decides and tenants cannot change: the
// deployment's identity, the defaults every container gets, and the
// tenants with what each may use. It is read from policy/*.jsonnet, which
// sits apart from what tenants write (protect it with CODEOWNERS, and with
// --verify-keyring on the daemon). Without policy files, the repository is
// one tenant with the safe defaults of DefaultPolicy.
type Policy struct {
	// Deployment names the deployment: Rensei's objects carry it (the
	// io.rensei.scope label, the tunnel alias), and an apply prunes only
	// its own deployment's objects, so two repositories on one engine never
	// prune each other. Lower-case letters, digits and dashes.
	Deployment string `json:"deployment,omitempty"`
	// Defaults apply to every container of every tenant.
	Defaults Defaults `json:"defaults,omitzero"`
	// Tenants own environments; an environment outside every tenant is a
	// problem. Empty means one tenant "default" that may use everything
	// except what the defaults forbid.
	Tenants []Tenant `json:"tenants,omitempty"`

	Source Source `json:"-"`
}

// Defaults are what every container gets whatever its group says.
type Defaults struct {
	// CPUs and Memory limit a container whose group declares none, and
	// count against host capacity.
	CPUs   float64 `json:"cpus,omitempty"`
	Memory Bytes   `json:"memory,omitzero"`
	// Pids bounds the processes of each container.
	Pids int64 `json:"pids,omitempty"`
	// LogMaxSize ("10m") and LogMaxFiles rotate each container's log.
	LogMaxSize  string `json:"logMaxSize,omitempty"`
	LogMaxFiles int    `json:"logMaxFiles,omitempty"`
}

// Tenant is an author of environments and what it may use.
type Tenant struct {
	Name string `json:"name"`
	// Paths are the environment files it owns (globs, "**" for any depth:
	// "environments/cs/**"); Environments are name patterns ("cs*"). An
	// environment belongs to the first tenant either matches.
	Paths        []string `json:"paths,omitempty"`
	Environments []string `json:"environments,omitempty"`
	// Sites it may place on; empty: every site.
	Sites []string `json:"sites,omitempty"`
	// Images it may run: patterns of image references ("rensei/*",
	// "registry.example.edu/cs/**"); empty: any.
	Images []string `json:"images,omitempty"`
	// HostPorts it may publish: "8080" or "30000-30999"; empty: none.
	HostPorts []string `json:"hostPorts,omitempty"`
	// RequireResources: every group must declare cpus and memory.
	RequireResources bool `json:"requireResources,omitempty"`
	// MaxResources bounds each container.
	MaxResources Resources `json:"maxResources,omitzero"`
	// MaxReplicas bounds the instances of one group; 0: the global limit.
	MaxReplicas int `json:"maxReplicas,omitempty"`
	// Quota bounds what its active environments use together.
	Quota Quota `json:"quota,omitzero"`
	// Subnets are the address pools its overlays must come from; empty:
	// the private ranges (DefaultSubnets).
	Subnets []string `json:"subnets,omitempty"`
	// Secrets it may reference (names or patterns); empty: none.
	Secrets []string `json:"secrets,omitempty"`

	Source Source `json:"-"`
}

// Quota bounds what a tenant's active environments use together; a zero
// field is no bound.
type Quota struct {
	Containers int     `json:"containers,omitempty"`
	CPUs       float64 `json:"cpus,omitempty"`
	Memory     Bytes   `json:"memory,omitzero"`
	Volumes    int     `json:"volumes,omitempty"`
}

// IsZero reports whether no bound is set.
func (q Quota) IsZero() bool {
	return q.Containers == 0 && q.CPUs == 0 && q.Memory.IsZero() && q.Volumes == 0
}

// IsZero reports whether no resource is declared.
func (r Resources) IsZero() bool { return r.CPUs == 0 && r.Memory.IsZero() }

// DefaultSubnets are the address pools overlays come from when the policy
// names none: the private (RFC 1918), shared (RFC 6598) and benchmarking
// (RFC 2544) ranges.
var DefaultSubnets = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "198.18.0.0/15"}

// Default container limits of the safe defaults.
const (
	DefaultCPUs        = 0.5
	DefaultMemory      = "256Mi"
	DefaultPids        = 512
	DefaultLogMaxSize  = "10m"
	DefaultLogMaxFiles = 3
	// DefaultHostPorts: without a policy, unprivileged host ports only.
	DefaultHostPorts = "1024-65535"
)

// DefaultPolicy is the policy of a repository without policy files: one
// tenant, "default", that owns every environment and may use every site
// and image, unprivileged host ports, the private address ranges and any
// secret; every container gets the default limits.
func DefaultPolicy() *Policy {
	return &Policy{Tenants: []Tenant{{Name: "default", Paths: []string{"**"}, Images: []string{"*"},
		HostPorts: []string{DefaultHostPorts}, Secrets: []string{"*"}}}}
}

// WithDefaults fills the defaults a policy leaves unset.
func (p *Policy) WithDefaults() *Policy {
	out := *p
	d := &out.Defaults
	if d.CPUs == 0 {
		d.CPUs = DefaultCPUs
	}
	if d.Memory.IsZero() {
		d.Memory = MustBytes(DefaultMemory)
	}
	if d.Pids == 0 {
		d.Pids = DefaultPids
	}
	if d.LogMaxSize == "" {
		d.LogMaxSize = DefaultLogMaxSize
	}
	if d.LogMaxFiles == 0 {
		d.LogMaxFiles = DefaultLogMaxFiles
	}
	if len(out.Tenants) == 0 {
		out.Tenants = DefaultPolicy().Tenants
	}
	return &out
}

// TenantOf returns the tenant an environment belongs to, or nil: the first
// whose paths match the environment's file or whose environment patterns
// match its name.
func (p *Policy) TenantOf(e *Environment) *Tenant {
	for i := range p.Tenants {
		t := &p.Tenants[i]
		for _, g := range t.Paths {
			if globMatch(g, e.Source.File) {
				return t
			}
		}
		for _, g := range t.Environments {
			if ok, _ := path.Match(g, e.Name); ok {
				return t
			}
		}
	}
	return nil
}

// globMatch matches a slash-separated path against a glob where "**"
// matches any number of path elements (zero or more).
func globMatch(glob, name string) bool {
	if glob == "**" {
		return true
	}
	g, n := strings.Split(glob, "/"), strings.Split(name, "/")
	var match func(g, n []string) bool
	match = func(g, n []string) bool {
		for len(g) > 0 {
			if g[0] == "**" {
				for i := 0; i <= len(n); i++ {
					if match(g[1:], n[i:]) {
						return true
					}
				}
				return false
			}
			if len(n) == 0 {
				return false
			}
			if ok, _ := path.Match(g[0], n[0]); !ok {
				return false
			}
			g, n = g[1:], n[1:]
		}
		return len(n) == 0
	}
	return match(g, n)
}

// AllowsSite reports whether the tenant may place on site.
func (t *Tenant) AllowsSite(site string) bool {
	if len(t.Sites) == 0 {
		return true
	}
	for _, s := range t.Sites {
		if s == site {
			return true
		}
	}
	return false
}

// AllowsImage reports whether the tenant may run image (a reference as
// written; "*" matches within one path element, "**" across them).
func (t *Tenant) AllowsImage(image string) bool {
	if len(t.Images) == 0 {
		return true
	}
	for _, g := range t.Images {
		if g == "*" || globMatch(g, image) || globMatch(g, strings.SplitN(image, ":", 2)[0]) {
			return true
		}
	}
	return false
}

// AllowsHostPort reports whether the tenant may publish host port n.
func (t *Tenant) AllowsHostPort(n int) bool {
	for _, r := range t.HostPorts {
		lo, hi, err := portRange(r)
		if err == nil && n >= lo && n <= hi {
			return true
		}
	}
	return false
}

// AllowsSecret reports whether the tenant may reference the secret.
func (t *Tenant) AllowsSecret(name string) bool {
	for _, g := range t.Secrets {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// Pools returns the tenant's address pools.
func (t *Tenant) Pools() []netip.Prefix {
	src := t.Subnets
	if len(src) == 0 {
		src = DefaultSubnets
	}
	var out []netip.Prefix
	for _, s := range src {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// portRange parses "8080" or "30000-30999".
func portRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = strconv.Atoi(strings.TrimSpace(a)); err != nil {
		return 0, 0, fmt.Errorf("host port range %q: want N or N-M", s)
	}
	hi = lo
	if isRange {
		if hi, err = strconv.Atoi(strings.TrimSpace(b)); err != nil {
			return 0, 0, fmt.Errorf("host port range %q: want N or N-M", s)
		}
	}
	if lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("host port range %q: outside 1..65535 or reversed", s)
	}
	return lo, hi, nil
}
