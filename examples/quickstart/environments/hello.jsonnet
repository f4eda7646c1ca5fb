// A small environment on this machine: two web servers whose page is
// rendered here by Jsonnet, and a shell with a persistent volume and a
// static address, all on one network.
local r = import 'rensei.libsonnet';

local page(title) = '<!doctype html><title>' + title + '</title><h1>' + title + '</h1>\n';

{
  name: 'hello',
  owner: 'it-services@example.edu',
  labels: { course: 'demo', semester: '2027-spring' },
  networks: [r.network('lan', '198.19.10.0/24')],
  groups: [
    r.group('web', 'rensei/busybox:latest', replicas=2) + {
      command: ['httpd', '-f', '-p', '80', '-h', '/var/www'],
      networks: [{ network: 'lan' }],
      files: [r.file('/var/www/index.html', page('Hello from Rensei'))],
      resources: { cpus: 0.25, memory: '64Mi' },
    },
    r.group('shell', 'rensei/busybox:latest') + {
      command: ['sleep', 'infinity'],
      networks: [{ network: 'lan', address: '198.19.10.10' }],
      volumes: [{ name: 'data', path: '/data' }],
      env: { GREETING: 'hello' },
      resources: { cpus: 0.25, memory: '32Mi' },
    },
  ],
}
