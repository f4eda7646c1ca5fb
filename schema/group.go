package schema

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/distribution/reference"
)

// Names a container's environment may not set: RENSEI_* are Rensei's own,
// and the dynamic loader's variables load code into every process.
var (
	envNameRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	hostnameRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
	deniedEnv     = map[string]bool{"LD_PRELOAD": true, "LD_LIBRARY_PATH": true, "LD_AUDIT": true}
	systemTargets = []string{"/proc", "/sys", "/dev"}
)

// MinCPUs is the smallest CPU limit Docker accepts (0.01).
const MinCPUs = 0.01

// group checks one group: names, image, instances, placement, resources,
// attachments, volumes, files and ports, and what its tenant allows.
func (v *validator) group(it item, e *Environment, g *Group, t *Tenant, nets map[string]*Network, statics map[string]string) {
	at := func(p vpath, format string, args ...any) {
		v.r.at(it, p, "environment %q: group %q: "+format, append([]any{e.Name, g.Name}, args...)...)
	}
	rule := func(r string) string { return policyRule(t, r) }
	if msg := validName(g.Name, MaxObjectName); msg != "" {
		at(vpath{"name"}, "%s", msg)
	}
	switch {
	case g.Image == "":
		at(vpath{"image"}, "image is empty")
	default:
		if _, err := reference.ParseNormalizedNamed(g.Image); err != nil {
			at(vpath{"image"}, "image %q: %v", g.Image, err)
		} else if t != nil && !t.AllowsImage(g.Image) {
			at(vpath{"image"}, "image %q is not allowed for tenant %q (%s: %s)", g.Image, t.Name, rule("images"), strings.Join(t.Images, ", "))
		}
	}
	v.instances(e, g, t, at)
	switch g.Restart {
	case "", "no", "always", "unless-stopped", "on-failure":
	default:
		at(vpath{"restart"}, "restart %q: want no, always, unless-stopped or on-failure", g.Restart)
	}
	if st := g.Stop; st != nil {
		if st.Timeout < 1 || st.Timeout > 600 {
			at(vpath{"stop", "timeout"}, "stop timeout %d: want 1 to 600 seconds", st.Timeout)
		}
		if st.Signal != "" && !stopSignal.MatchString(st.Signal) {
			at(vpath{"stop", "signal"}, "stop signal %q: want a signal name such as SIGTERM, SIGINT or SIGQUIT", st.Signal)
		}
	}
	v.placement(g, at)
	if t != nil {
		for i, s := range g.Placement.Sites {
			if !t.AllowsSite(s) {
				at(vpath{"placement", "sites", i}, "site %q is not allowed for tenant %q (%s: %s)", s, t.Name, rule("sites"), strings.Join(t.Sites, ", "))
			}
		}
	}
	v.resources(g, t, at)
	v.hostCPUs(g, at)
	v.envVars(g, at)
	attached := map[string]bool{}
	for ai, a := range g.Networks {
		n := nets[a.Network]
		switch {
		case n == nil:
			at(vpath{"networks", ai, "network"}, "unknown network %q", a.Network)
			continue
		case attached[a.Network]:
			at(vpath{"networks", ai, "network"}, "network %q attached twice", a.Network)
		}
		attached[a.Network] = true
		if a.Address != "" {
			v.static(e, g, n, a.Address, statics, vpath{"networks", ai, "address"}, at)
		}
		for li, alias := range a.Aliases {
			if len(alias) > MaxHostnameLen || !hostnameRE.MatchString(alias) {
				at(vpath{"networks", ai, "aliases", li}, "network %q: alias %q is not a hostname (lower-case letters, digits, dashes and dots)", a.Network, alias)
				continue
			}
			key := a.Network + "/" + alias
			if other, dup := v.aliases[key]; dup && other != g.Name {
				at(vpath{"networks", ai, "aliases", li}, "network %q: alias %q also answers for group %q: two containers would answer the same hostname", a.Network, alias, other)
			}
			v.aliases[key] = g.Name
		}
		for _, name := range append([]string{g.Name}, g.Instances()...) {
			host := name
			if name != g.Name {
				host = g.Name + "-" + name
			}
			key := a.Network + "/" + host
			if other, dup := v.aliases[key]; dup && other != g.Name {
				at(vpath{"networks", ai, "network"}, "network %q: hostname %q is also an alias of group %q: two containers would answer it", a.Network, host, other)
			}
			v.aliases[key] = g.Name
		}
	}
	v.volumes(g, at)
	v.files(g, at)
	v.ports(g, t, at)
	v.secrets(g, t, at)
}

// secrets checks the secret references of variables and files: well
// formed, and of secrets the tenant may use.
func (v *validator) secrets(g *Group, t *Tenant, at at) {
	type text struct {
		p vpath
		s string
	}
	texts := make([]text, 0, len(g.Env)+len(g.Files))
	for _, k := range sortedKeys(g.Env) {
		texts = append(texts, text{vpath{"env", k}, g.Env[k]})
	}
	for i, f := range g.Files {
		texts = append(texts, text{vpath{"files", i, "content"}, f.Content})
	}
	seen := map[string]bool{}
	for _, tx := range texts {
		names, bad := secretRefs(tx.s)
		for _, b := range bad {
			at(tx.p, "secret reference %q is malformed: want ${rensei:secret:NAME} or ${rensei:secret:NAME:CONTEXT} (use r.secret and r.derivedSecret)", b)
		}
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			if t != nil && !t.AllowsSecret(n) {
				at(tx.p, "secret %q is not allowed for tenant %q (%s: %s)", n, t.Name, policyRule(t, "secrets"), strings.Join(t.Secrets, ", "))
			}
		}
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// instances checks replicas and members, and the names they make.
func (v *validator) instances(e *Environment, g *Group, t *Tenant, at at) {
	count := vpath{"replicas"}
	if len(g.Members) > 0 {
		count = vpath{"members"}
	}
	switch {
	case g.Replicas < 0:
		at(vpath{"replicas"}, "replicas %d is negative", g.Replicas)
	case g.Replicas > MaxReplicas:
		at(vpath{"replicas"}, "replicas %d is more than %d", g.Replicas, MaxReplicas)
	case g.Replicas > 0 && len(g.Members) > 0:
		at(vpath{"members"}, "replicas and members are mutually exclusive")
	case g.Replicas == 0 && len(g.Members) == 0:
		// At the group: an empty members list is written somewhere, an
		// absent one nowhere.
		at(nil, "has neither replicas nor members: it would have no instance (an empty roster?)")
	}
	if t != nil && t.MaxReplicas > 0 && len(g.Instances()) > t.MaxReplicas {
		at(count, "%d instances are more than tenant %q allows per group (%s: %d)", len(g.Instances()), t.Name, policyRule(t, "maxReplicas"), t.MaxReplicas)
	}
	seen := map[string]bool{}
	for i, m := range g.Members {
		if msg := validName(m, MaxObjectName); msg != "" {
			at(vpath{"members", i}, "member: %s", msg)
		} else if seen[m] {
			at(vpath{"members", i}, "member %q is listed twice", m)
		}
		seen[m] = true
	}
	for i, inst := range g.Instances() {
		where := vpath{"replicas"}
		if len(g.Members) > 0 {
			where = vpath{"members", i}
		}
		if host := g.Name + "-" + inst; len(host) > MaxHostnameLen {
			at(where, "hostname %q is longer than %d bytes", host, MaxHostnameLen)
		}
		if name := e.Name + "_" + g.Name + "_" + inst; len(name) > MaxDockerName {
			at(where, "container name %q is longer than %d bytes", name, MaxDockerName)
		}
	}
}

// resources checks the limits against what Docker accepts and what the
// tenant requires and allows.
func (v *validator) resources(g *Group, t *Tenant, at at) {
	r := g.Resources
	cpus, memory := vpath{"resources", "cpus"}, vpath{"resources", "memory"}
	switch {
	case r.CPUs < 0:
		at(cpus, "resources: cpus %v is negative", r.CPUs)
	case r.CPUs > 0 && r.CPUs < MinCPUs:
		at(cpus, "resources: cpus %v is below %v, the least Docker accepts", r.CPUs, MinCPUs)
	case r.CPUs > float64(MaxCPUs):
		at(cpus, "resources: cpus %v is more than any engine accepts (%d)", r.CPUs, MaxCPUs)
	}
	if err := r.Memory.Err(); err != nil {
		at(memory, "resources: memory %q: %v", r.Memory.Text, err)
	} else if r.Memory.N > 0 && r.Memory.N < MinMemory {
		at(memory, "resources: memory %s is below 6Mi, the least Docker accepts", r.Memory.Text)
	}
	if t == nil {
		return
	}
	if t.RequireResources && (r.CPUs == 0 || r.Memory.IsZero()) {
		at(vpath{"resources"}, "resources: tenant %q requires cpus and memory on every group (%s)", t.Name, policyRule(t, "requireResources"))
	}
	if m := t.MaxResources; m.CPUs > 0 && r.CPUs > m.CPUs {
		at(cpus, "resources: cpus %v is more than tenant %q allows (%s: %v)", r.CPUs, t.Name, policyRule(t, "maxResources.cpus"), m.CPUs)
	}
	if m := t.MaxResources; m.Memory.N > 0 && r.Memory.N > m.Memory.N {
		at(memory, "resources: memory %s is more than tenant %q allows (%s: %s)", r.Memory.Text, t.Name, policyRule(t, "maxResources.memory"), m.Memory.Text)
	}
}

// hostCPUs refuses more CPUs per container than every host the group may
// use declares: Docker refuses a container more CPUs than its host has.
func (v *validator) hostCPUs(g *Group, at at) {
	if g.Resources.CPUs == 0 {
		return
	}
	sites := g.Placement.Sites
	if len(sites) == 0 {
		for _, s := range v.topo.Sites {
			sites = append(sites, s.Name)
		}
	}
	most := 0.0
	for _, name := range sites {
		s := v.sites[name]
		if s == nil {
			continue
		}
		for _, h := range s.Hosts {
			if !HostMatches(h, g.Placement.HostLabels) {
				continue
			}
			if h.Capacity == nil || h.Capacity.CPUs == 0 {
				return // a host without a declared size may be large enough
			}
			most = max(most, h.Capacity.CPUs)
		}
	}
	if most > 0 && g.Resources.CPUs > most {
		at(vpath{"resources", "cpus"}, "resources: cpus %v is more than any host it may use has (%v): Docker refuses a container more CPUs than its host", g.Resources.CPUs, most)
	}
}

// envVars checks variable names: a name with "=" or a space would be cut by
// Docker into another variable (LD_PRELOAD smuggled in a name).
func (v *validator) envVars(g *Group, at at) {
	for k := range g.Env {
		switch {
		case !envNameRE.MatchString(k):
			at(vpath{"env", k}, "env: %q is not a variable name (letters, digits and _, not starting with a digit)", k)
		case strings.HasPrefix(k, "RENSEI_"):
			at(vpath{"env", k}, "env: %s: RENSEI_* variables are set by Rensei", k)
		case deniedEnv[k]:
			at(vpath{"env", k}, "env: %s loads code into every process of the container; it is not allowed", k)
		}
	}
}

// volumes checks names, mount points and scopes.
func (v *validator) volumes(g *Group, at at) {
	vols := map[string]bool{}
	for i, vol := range g.Volumes {
		if msg := validName(vol.Name, MaxObjectName); msg != "" {
			at(vpath{"volumes", i, "name"}, "volume: %s", msg)
		}
		if vols[vol.Name] {
			at(vpath{"volumes", i, "name"}, "volume %q mounted twice", vol.Name)
		}
		vols[vol.Name] = true
		if msg := badTarget(vol.Path); msg != "" {
			at(vpath{"volumes", i, "path"}, "volume %q: path %q %s", vol.Name, vol.Path, msg)
		}
		switch vol.Scope {
		case "", "instance", "environment":
		default:
			at(vpath{"volumes", i, "scope"}, "volume %q: scope %q: want instance or environment", vol.Name, vol.Scope)
		}
	}
}

// files checks paths and modes.
func (v *validator) files(g *Group, at at) {
	files := map[string]bool{}
	for i, f := range g.Files {
		needle, mode := vpath{"files", i, "path"}, vpath{"files", i, "mode"}
		switch msg := badTarget(f.Path); {
		case msg != "":
			at(needle, "file %q %s", f.Path, msg)
		case strings.HasSuffix(f.Path, "/"):
			at(needle, "file %q names a directory", f.Path)
		case files[f.Path]:
			at(needle, "file %q defined twice", f.Path)
		}
		files[f.Path] = true
		switch {
		case f.Mode < 0:
			at(mode, "file %q: mode %d is negative", f.Path, f.Mode)
		case f.Mode&^0o777 != 0:
			hint := ""
			if looksDecimal(f.Mode) {
				hint = fmt.Sprintf(" (%d decimal is %#o octal: did you mean %#o? Jsonnet has no octal literals; write %d, or std.parseOctal('%d'))",
					f.Mode, f.Mode, octalOf(f.Mode), octalOf(f.Mode), f.Mode)
			}
			at(mode, "file %q: mode %#o sets setuid, setgid or sticky bits, or is not a file mode%s", f.Path, f.Mode, hint)
		}
	}
}

// ports checks published ports: each needs a host port the tenant allows.
func (v *validator) ports(g *Group, t *Tenant, at at) {
	for i, p := range g.Ports {
		switch {
		case p.Container < 1 || p.Container > 65535 || p.Host < 0 || p.Host > 65535:
			at(vpath{"ports", i}, "port %d:%d is outside 1..65535", p.Host, p.Container)
		case p.Host == 0:
			at(vpath{"ports", i}, "port %d: no host port: Docker would publish it on a random port (containers reach each other over their networks without ports)", p.Container)
		case t != nil && !t.AllowsHostPort(p.Host):
			at(vpath{"ports", i, "host"}, "host port %d is not allowed for tenant %q (%s: %s)", p.Host, t.Name, policyRule(t, "hostPorts"), strings.Join(t.HostPorts, ", "))
		}
		if p.Protocol != "" && p.Protocol != "tcp" && p.Protocol != "udp" {
			at(vpath{"ports", i, "protocol"}, "port protocol %q: want tcp or udp", p.Protocol)
		}
		if p.Host != 0 && len(g.Instances()) > 1 {
			at(vpath{"ports", i, "host"}, "host port %d would be published by %d instances; give groups with a host port one instance", p.Host, len(g.Instances()))
		}
	}
}

// badTarget says why p cannot be a path inside a container, or "".
func badTarget(p string) string {
	switch {
	case strings.ContainsAny(p, "\x00\n"):
		return "contains a NUL or a newline"
	case !path.IsAbs(p):
		return "is not absolute"
	case path.Clean(p) == "/":
		return "is the container's root"
	case strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.Contains(p, "/./") || strings.Contains(p, "//"):
		return "is not a clean path (no .., . or //)"
	}
	for _, sys := range systemTargets {
		if c := path.Clean(p); c == sys || strings.HasPrefix(c, sys+"/") {
			return "is inside " + sys + ", which belongs to the kernel"
		}
	}
	return ""
}

// looksDecimal reports whether a mode is a decimal number whose digits
// read as an octal mode (644, 755): a likely slip, since Jsonnet has no
// octal literals.
func looksDecimal(m int) bool {
	s := fmt.Sprint(m)
	return len(s) == 3 && strings.Trim(s, "01234567") == "" && m > 0o777
}

// octalOf reads a decimal number's digits as octal: 755 → 0o755.
func octalOf(m int) int {
	out := 0
	for _, c := range fmt.Sprint(m) {
		out = out*8 + int(c-'0')
	}
	return out
}

// policyRule names a tenant's rule for messages: "policy/tenants.jsonnet:
// tenants[cs].images".
func policyRule(t *Tenant, field string) string {
	if t == nil {
		return field
	}
	where := "policy"
	if t.Source.File != "" {
		where = t.Source.File
		if t.Source.Line > 0 {
			where += fmt.Sprintf(":%d", t.Source.Line)
		}
	}
	return fmt.Sprintf("%s: tenants[%s].%s", where, t.Name, field)
}

// stopSignal is a signal name Docker accepts as a stop signal.
var stopSignal = regexp.MustCompile(`^SIG(TERM|INT|QUIT|HUP|USR1|USR2|KILL|WINCH|PWR|RTMIN(\+[0-9]+)?)$`)
