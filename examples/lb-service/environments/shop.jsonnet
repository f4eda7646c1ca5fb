// A web service with replicas at two sites behind HAProxy at a third
// (sites/lab.jsonnet): the load balancer at site-c publishes port 8080 on
// the site's address (198.18.0.3:8080) and its statistics on 8404; it
// checks every replica's /healthz each second and sends requests round
// robin to those that answer. When a site goes down, requests go to the
// other; when it is back, it is used again.
// To add a replica, raise a count and apply.
local research = import 'research.libsonnet';

research.loadBalanced(
  'shop',
  subnet='198.19.70.0/24',
  lb={ site: 'site-c', port: 8080, statsPort: 8404 },
  replicas={
    'site-a': 1,
    'site-b': 1,
  },
  owner='web-team@example.edu',
  labels={ service: 'shop' },
)
