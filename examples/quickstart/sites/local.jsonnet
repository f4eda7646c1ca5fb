// This machine's own Docker engine as one site with one host. Copy it into
// a config repository's sites/ directory. One host needs no tunnels, so no
// underlay address is set.
local r = import 'rensei.libsonnet';

r.site('local', [
  r.host('docker', docker='unix:///var/run/docker.sock', capacity={ cpus: 2, memory: '8Gi' }),
], labels={ kind: 'local' })
