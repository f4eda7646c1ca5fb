// The emulated lab of `rensei lab up` as three sites, one Docker host each.
// Copy this file into a config repository as sites/lab.jsonnet: it
// evaluates to an array of sites, which the loader accepts.
//
// Site x (a, b, c) runs its own dockerd inside network namespace rs-lab-x,
// serving unix:///run/rensei-lab/site-x/docker.sock, with underlay address
// 198.18.0.n (the VXLAN endpoint) on the lab's WAN bridge, where published
// ports bind too (a front door is reached at 198.18.0.n:PORT from the WAN
// side). Overlays between the sites need root: tunnels are made in each
// site's namespace.
local r = import 'rensei.libsonnet';

local labSite(letter, n) =
  r.site('site-' + letter, [
    r.host(
      'docker',
      docker='unix:///run/rensei-lab/site-' + letter + '/docker.sock',
      underlay='198.18.0.' + n,
      netns='rs-lab-' + letter,
      publish='198.18.0.' + n,
      capacity={ cpus: 4, memory: '8Gi', containers: 50 },
    ),
  ], labels={ kind: 'lab' });

[
  labSite('a', 1),
  labSite('b', 2),
  labSite('c', 3),
]
