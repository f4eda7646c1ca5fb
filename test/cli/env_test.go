package cli_test

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/rensei-dev/rensei/test/images"
)

// hello is a quickstart-like environment (examples/quickstart's hello):
// web servers whose page is rendered by Jsonnet, and a shell with a volume
// and a static address, all on one network.
type hello struct {
	Name     string
	Subnet   netip.Prefix
	WebImage string // default images.Busybox
	Replicas int    // web replicas, default 2
	NoShell  bool   // leave the shell group out
	Extra    string // more groups, Jsonnet, each followed by a comma
	Local    bool   // place the groups on site local only
}

// static is the shell's address: in the subnet's first block, which
// Rensei keeps for static addresses.
func (h hello) static() string { return hostAddr(h.Subnet, 10) }

// page is the content every web server serves.
func (h hello) page() string {
	return "<!doctype html><title>Hello from " + h.Name + "</title><h1>Hello from " + h.Name + "</h1>\n"
}

func (h hello) jsonnet() string {
	image := h.WebImage
	if image == "" {
		image = images.Busybox
	}
	replicas := h.Replicas
	if replicas == 0 {
		replicas = 2
	}
	placement := ""
	if h.Local {
		placement = "      placement: { sites: ['local'] },\n"
	}
	shell := ""
	if !h.NoShell {
		shell = fmt.Sprintf(`    r.group('shell', '%s') + {
      command: ['sleep', 'infinity'],
      networks: [{ network: 'lan', address: '%s' }],
      volumes: [{ name: 'data', path: '/data' }],
      env: { GREETING: 'hello' },
      resources: { cpus: 0.25, memory: '32Mi' },
%s    },
`, images.Busybox, h.static(), placement)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `// A quickstart-like environment written by test/cli.
local r = import 'rensei.libsonnet';

local page(title) = '<!doctype html><title>' + title + '</title><h1>' + title + '</h1>\n';

{
  name: '%s',
  owner: 'it-services@example.edu',
  labels: { course: 'demo', semester: '2027-spring' },
  networks: [r.network('lan', '%s')],
  groups: [
    r.group('web', '%s', replicas=%d) + {
      command: ['httpd', '-f', '-p', '80', '-h', '/var/www'],
      networks: [{ network: 'lan' }],
      files: [r.file('/var/www/index.html', page('Hello from %s'))],
      resources: { cpus: 0.25, memory: '64Mi' },
%s    },
%s%s  ],
}
`, h.Name, h.Subnet, image, replicas, h.Name, placement, shell, h.Extra)
	return b.String()
}

// writeHello writes h as environments/<name>.jsonnet.
func (r *repo) writeHello(h hello) {
	r.t.Helper()
	r.write("environments/"+h.Name+".jsonnet", h.jsonnet())
}
