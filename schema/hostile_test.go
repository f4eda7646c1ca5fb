package schema

import (
	"strings"
	"testing"
	"time"
)

// hostileSite is two sites on their own engines; the cloud host publishes
// on 198.18.0.2 and declares its LAN.
const hostileSite = `local r = import 'rensei.libsonnet';
[
  r.site('campus', [r.host('h1', docker='unix:///run/campus.sock', underlay='198.18.0.1', capacity={ cpus: 4, memory: '8Gi' })]),
  r.site('cloud', [r.host('h1', docker='unix:///run/cloud.sock', underlay='198.18.0.2', publish='198.18.0.2', lans=['10.20.0.0/16'])]),
]
`

// groupEnv is an environment "e" whose one group is the Jsonnet object
// text g (on line 5 and after), on one overlay network "lan".
func groupEnv(g string) map[string]string {
	return map[string]string{
		"sites/s.jsonnet": hostileSite,
		"environments/e.jsonnet": "{\n  name: 'e',\n  networks: [{ name: 'lan', subnet: '198.19.9.0/24' }],\n  groups: [\n" +
			"    { name: 'g', image: 'rensei/busybox:latest', replicas: 1, networks: [{ network: 'lan' }] } + " + g + ",\n  ],\n}\n",
	}
}

// TestHostileInput is the corpus of hostile and careless inputs: each is
// refused at validation with the file, the line and what is wrong, before
// anything reaches Docker.
func TestHostileInput(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // all must appear, in one problem line
	}{
		// Environment variables.
		{"env name with =", groupEnv("{ env: { 'A=B': 'x' } }"), []string{"environments/e.jsonnet:5:", `env: "A=B" is not a variable name`}},
		{"env name smuggling LD_PRELOAD", groupEnv("{ env: { 'X=1\\nLD_PRELOAD': '/tmp/evil.so' } }"), []string{"environments/e.jsonnet:5:", "is not a variable name"}},
		{"env name with a space", groupEnv("{ env: { 'MY VAR': 'x' } }"), []string{"environments/e.jsonnet:5:", `"MY VAR" is not a variable name`}},
		{"empty env name", groupEnv("{ env: { '': 'x' } }"), []string{"environments/e.jsonnet:5:", `"" is not a variable name`}},
		{"LD_PRELOAD", groupEnv("{ env: { LD_PRELOAD: '/tmp/x.so' } }"), []string{"environments/e.jsonnet:5:", "LD_PRELOAD loads code"}},
		{"RENSEI_ variable", groupEnv("{ env: { RENSEI_SITE: 'x' } }"), []string{"environments/e.jsonnet:5:", "RENSEI_* variables are set by Rensei"}},
		// Files.
		{"file path with ..", groupEnv("{ files: [{ path: '/etc/../root/x', content: 'x' }] }"), []string{"environments/e.jsonnet:5:", `file "/etc/../root/x" is not a clean path`}},
		{"file in /proc", groupEnv("{ files: [{ path: '/proc/sys/kernel/x', content: 'x' }] }"), []string{"environments/e.jsonnet:5:", "is inside /proc"}},
		{"file in /sys", groupEnv("{ files: [{ path: '/sys/x', content: 'x' }] }"), []string{"is inside /sys"}},
		{"file naming a directory", groupEnv("{ files: [{ path: '/etc/x/', content: 'x' }] }"), []string{`file "/etc/x/" names a directory`}},
		{"file with NUL", groupEnv("{ files: [{ path: '/etc/a\\u0000b', content: 'x' }] }"), []string{"contains a NUL"}},
		{"relative file", groupEnv("{ files: [{ path: 'etc/x', content: 'x' }] }"), []string{"is not absolute"}},
		{"setuid file", groupEnv("{ files: [{ path: '/usr/bin/x', content: 'x', mode: 2541 }] }"), []string{"environments/e.jsonnet:5:", "sets setuid, setgid or sticky bits"}},
		{"setgid file", groupEnv("{ files: [{ path: '/usr/bin/x', content: 'x', mode: 1517 }] }"), []string{"sets setuid, setgid or sticky bits"}},
		{"decimal 755", groupEnv("{ files: [{ path: '/usr/bin/x', content: 'x', mode: 755 }] }"), []string{"755 decimal is 01363 octal: did you mean 0755?", "write 493"}},
		// Networks.
		{"alias not a hostname", groupEnv("{ networks: [{ network: 'lan', aliases: ['Not_A Host'] }] }"), []string{"environments/e.jsonnet:5:", `alias "Not_A Host" is not a hostname`}},
		{"two groups answer one hostname", map[string]string{"sites/s.jsonnet": hostileSite, "environments/e.jsonnet": "{\n  name: 'e',\n  networks: [{ name: 'lan', subnet: '198.19.9.0/24' }],\n  groups: [\n" +
			"    { name: 'a', image: 'b', replicas: 1, networks: [{ network: 'lan', aliases: ['db'] }] },\n" +
			"    { name: 'b', image: 'b', replicas: 1, networks: [{ network: 'lan', aliases: ['db'] }] },\n  ],\n}\n"},
			[]string{"environments/e.jsonnet:6:", `alias "db" also answers for group "a"`}},
		// Volumes.
		{"volume at /", groupEnv("{ volumes: [{ name: 'v', path: '/' }] }"), []string{"environments/e.jsonnet:5:", `path "/" is the container's root`}},
		{"volume in /dev", groupEnv("{ volumes: [{ name: 'v', path: '/dev/shm' }] }"), []string{"is inside /dev"}},
		// Resources.
		{"memory without a unit", groupEnv("{ resources: { memory: '512' } }"), []string{"environments/e.jsonnet:5:", `memory "512": has no unit`}},
		{"memory as a number", groupEnv("{ resources: { memory: 536870912 } }"), []string{`memory "536870912": has no unit`}},
		{"512MB means two things", groupEnv("{ resources: { memory: '512MB' } }"), []string{`unit "MB" is ambiguous`, "512Mi"}},
		{"512m means milli", groupEnv("{ resources: { memory: '512m' } }"), []string{`unit "m" is ambiguous`}},
		{"too many cpus", groupEnv("{ resources: { cpus: 100000 } }"), []string{"cpus 100000 is more than any engine accepts"}},
		{"too few cpus", groupEnv("{ resources: { cpus: 0.001 } }"), []string{"cpus 0.001 is below 0.01"}},
		{"more cpus than the host", groupEnv("{ resources: { cpus: 8 }, placement: { sites: ['campus'] } }"), []string{"cpus 8 is more than any host it may use has (4)"}},
		// Ports.
		{"host port 0", groupEnv("{ ports: [{ container: 80 }] }"), []string{"environments/e.jsonnet:5:", "port 80: no host port"}},
		{"privileged host port", groupEnv("{ ports: [{ container: 22, host: 22 }] }"), []string{"host port 22 is not allowed for tenant \"default\"", "hostPorts"}},
		{"udp 53", groupEnv("{ ports: [{ container: 53, host: 53, protocol: 'udp' }] }"), []string{"host port 53 is not allowed"}},
		// Stopping.
		{"stop without a timeout", groupEnv("{ stop: { signal: 'SIGTERM' } }"), []string{"environments/e.jsonnet:5:", "stop timeout 0: want 1 to 600 seconds"}},
		{"stop signal that is no signal", groupEnv("{ stop: { signal: 'TERM; rm -rf /', timeout: 5 } }"), []string{"environments/e.jsonnet:5:", `stop signal "TERM; rm -rf /": want a signal name`}},
		// Groups.
		{"no instances", groupEnv("{ replicas: 0 }"), []string{"has neither replicas nor members"}},
		{"empty roster", groupEnv("{ replicas: 0, members: [] }"), []string{"has neither replicas nor members"}},
		// Overlay subnets.
		{"subnet over the underlay", map[string]string{"sites/s.jsonnet": hostileSite, "environments/e.jsonnet": "{ name: 'e', networks: [{ name: 'lan', subnet: '198.18.0.0/24' }] }\n"},
			[]string{"environments/e.jsonnet:1:", "subnet 198.18.0.0/24 overlaps the underlay address 198.18.0.1 of host campus/h1"}},
		{"subnet over a host's LAN", map[string]string{"sites/s.jsonnet": hostileSite, "environments/e.jsonnet": "{ name: 'e', networks: [{ name: 'lan', subnet: '10.20.5.0/24' }] }\n"},
			[]string{"overlaps the LAN 10.20.0.0/16 of host cloud/h1"}},
		{"multicast subnet", map[string]string{"sites/s.jsonnet": hostileSite, "environments/e.jsonnet": "{ name: 'e', networks: [{ name: 'lan', subnet: '224.1.0.0/24' }] }\n"}, []string{"overlaps multicast"}},
		{"link-local subnet", map[string]string{"sites/s.jsonnet": hostileSite, "environments/e.jsonnet": "{ name: 'e', networks: [{ name: 'lan', subnet: '169.254.1.0/24' }] }\n"}, []string{"overlaps link-local"}},
		{"loopback subnet", map[string]string{"sites/s.jsonnet": hostileSite, "environments/e.jsonnet": "{ name: 'e', networks: [{ name: 'lan', subnet: '127.1.0.0/24' }] }\n"}, []string{"overlaps loopback"}},
		{"half the internet", map[string]string{"sites/s.jsonnet": hostileSite, "environments/e.jsonnet": "{ name: 'e', networks: [{ name: 'lan', subnet: '0.0.0.0/1', hostPrefix: 4 }] }\n"}, []string{"subnet 0.0.0.0/1 is wider than /8"}},
		{"public subnet", map[string]string{"sites/s.jsonnet": hostileSite, "environments/e.jsonnet": "{ name: 'e', networks: [{ name: 'lan', subnet: '8.8.8.0/24' }] }\n"}, []string{`is outside the address pools of tenant "default"`}},
		// Sites.
		{"two hosts on one engine", map[string]string{"sites/s.jsonnet": "[{ name: 'a', hosts: [{ name: 'h1', docker: 'unix:///run/x.sock' }, { name: 'h2', docker: 'unix:///run/x.sock' }] }]\n"},
			[]string{"sites/s.jsonnet:1:", "docker endpoint unix:///run/x.sock is also host a/h1"}},
		{"tcp without tls", map[string]string{"sites/s.jsonnet": "local r = import 'rensei.libsonnet';\nr.site('a', [r.host('h1', docker='tcp://192.0.2.7:2375')])\n"},
			[]string{"sites/s.jsonnet:2:", "docker endpoint tcp://192.0.2.7:2375 has no tls", "insecure: true"}},
		{"publish on every interface", map[string]string{"sites/s.jsonnet": "local r = import 'rensei.libsonnet';\nr.site('a', [r.host('h1', publish='0.0.0.0')])\n"},
			[]string{"sites/s.jsonnet:2:", `publish "0.0.0.0": want one IPv4 address of the host (never 0.0.0.0`}},
		// Secrets.
		{"malformed secret", groupEnv("{ env: { X: '${rensei:secret:Bad Name}' } }"), []string{"environments/e.jsonnet:5:", "is malformed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(repo(tt.files), Options{Timeout: 5 * time.Second})
			if err == nil {
				t.Fatal("validated")
			}
			ps, ok := err.(Problems)
			if !ok {
				t.Fatalf("error is %T, not Problems: %v", err, err)
			}
			for _, p := range ps {
				line := p.String()
				all := true
				for _, w := range tt.want {
					all = all && strings.Contains(line, w)
				}
				if all {
					return
				}
			}
			t.Errorf("no problem line holds all of %q:\n%s", tt.want, err)
		})
	}
}

// tenantsPolicy is a policy with two tenants: cs (its course files, campus
// only, the course image, ports 30000-30099, limits, a quota and a pool)
// and ops (everything under environments/ops/).
var tenantsPolicy = map[string]string{
	"sites/s.jsonnet": hostileSite,
	"policy/tenants.jsonnet": `{
  deployment: 'campus-prod',
  tenants: [
    {
      name: 'cs',
      paths: ['environments/cs/**'],
      sites: ['campus'],
      images: ['rensei/*'],
      hostPorts: ['30000-30099'],
      requireResources: true,
      maxResources: { cpus: 1, memory: '1Gi' },
      maxReplicas: 50,
      quota: { containers: 20, cpus: 4, memory: '4Gi', volumes: 10 },
      subnets: ['198.19.64.0/18'],
      secrets: ['notebook'],
    },
    { name: 'ops', paths: ['environments/ops/**'], images: ['*'], secrets: ['*'] },
  ],
}
`,
}

func withEnv(path, body string) map[string]string {
	out := map[string]string{}
	for k, v := range tenantsPolicy {
		out[k] = v
	}
	out[path] = body
	return out
}

// csGroup is a cs environment whose group is the standard one plus extra.
func csGroup(extra string) map[string]string {
	return withEnv("environments/cs/course.jsonnet", "{\n  name: 'cs101',\n  networks: [{ name: 'lan', subnet: '198.19.64.0/24' }],\n  groups: [\n"+
		"    { name: 'ws', image: 'rensei/busybox:latest', replicas: 2, placement: { sites: ['campus'] }, networks: [{ network: 'lan' }], resources: { cpus: 0.5, memory: '256Mi' } } + "+extra+",\n  ],\n}\n")
}

// TestPolicyViolations: what a tenant's policy forbids is a problem naming
// the file, the line and the policy rule.
func TestPolicyViolations(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"no tenant", withEnv("environments/other/x.jsonnet", "{ name: 'x' }\n"),
			[]string{"environments/other/x.jsonnet:1:", `environment "x" (environments/other/x.jsonnet) belongs to no tenant of the policy (policy/tenants.jsonnet)`}},
		{"site not allowed", csGroup("{ placement: { sites: ['cloud'] } }"), []string{"environments/cs/course.jsonnet:5:", `site "cloud" is not allowed for tenant "cs"`, "policy/tenants.jsonnet:", "tenants[cs].sites"}},
		{"image not allowed", csGroup("{ image: 'evil.example/miner:latest' }"), []string{`image "evil.example/miner:latest" is not allowed for tenant "cs"`, "tenants[cs].images"}},
		{"host port outside the range", csGroup("{ replicas: 1, ports: [{ container: 80, host: 8080 }] }"), []string{"host port 8080 is not allowed", "tenants[cs].hostPorts: 30000-30099"}},
		{"resources required", csGroup("{ resources: {} }"), []string{`tenant "cs" requires cpus and memory`, "tenants[cs].requireResources"}},
		{"cpus over the maximum", csGroup("{ resources: { cpus: 2, memory: '256Mi' } }"), []string{"cpus 2 is more than tenant \"cs\" allows", "tenants[cs].maxResources.cpus"}},
		{"memory over the maximum", csGroup("{ resources: { cpus: 0.5, memory: '2Gi' } }"), []string{"memory 2Gi is more than tenant \"cs\" allows", "tenants[cs].maxResources.memory"}},
		{"too many replicas", csGroup("{ replicas: 60 }"), []string{"60 instances are more than tenant \"cs\" allows per group", "tenants[cs].maxReplicas"}},
		{"subnet outside the pool", withEnv("environments/cs/course.jsonnet", "{ name: 'cs101', networks: [{ name: 'lan', subnet: '198.19.200.0/24' }] }\n"),
			[]string{"environments/cs/course.jsonnet:1:", `is outside the address pools of tenant "cs"`, "tenants[cs].subnets: 198.19.64.0/18"}},
		{"secret not allowed", csGroup("{ env: { K: '${rensei:secret:root-ca}' } }"), []string{`secret "root-ca" is not allowed for tenant "cs"`, "tenants[cs].secrets"}},
		{"deployment name", map[string]string{"sites/s.jsonnet": hostileSite, "policy/p.jsonnet": "{ deployment: 'Bad:Name' }\n"}, []string{"policy/p.jsonnet:1:", "deployment: name \"Bad:Name\""}},
		{"unknown site in policy", map[string]string{"sites/s.jsonnet": hostileSite, "policy/p.jsonnet": "{ tenants: [{ name: 't', paths: ['**'], sites: ['mars'] }] }\n"}, []string{"policy/p.jsonnet:1:", `tenant "t": unknown site "mars"`}},
		{"bad port range", map[string]string{"sites/s.jsonnet": hostileSite, "policy/p.jsonnet": "{ tenants: [{ name: 't', paths: ['**'], hostPorts: ['70000-1'] }] }\n"}, []string{`host port range "70000-1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(repo(tt.files), Options{Timeout: 5 * time.Second})
			if err == nil {
				t.Fatal("validated")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				all := true
				for _, w := range tt.want {
					all = all && strings.Contains(line, w)
				}
				if all {
					return
				}
			}
			t.Errorf("no problem line holds all of %q:\n%s", tt.want, err)
		})
	}
	// The policy's own environment, within every rule, is valid.
	if _, err := Load(repo(csGroup("{}")), Options{Timeout: 5 * time.Second}); err != nil {
		t.Errorf("a compliant environment: %v", err)
	}
}
