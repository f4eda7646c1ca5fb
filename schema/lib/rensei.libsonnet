// Rensei's Jsonnet library, embedded in the binary: import 'rensei.libsonnet'.
// Helpers build the objects of Rensei's schema with defaults filled in;
// templates build whole environments. Keep std.format and % out of hot
// paths: string concatenation with + is ~100x faster in go-jsonnet.
{
  // site(name, hosts) is a site; hosts is an array of host(...).
  site(name, hosts, labels={}):: { name: name, hosts: hosts, labels: labels },

  // host(name, docker, underlay) is a Docker host at a site. publish is
  // the address its published ports bind to (default 127.0.0.1); a tcp://
  // engine needs tls files, or insecure=true to accept running without.
  host(name, docker='unix:///var/run/docker.sock', underlay=null, netns=null, capacity=null, labels={}, publish=null, tls=null, insecure=false, lans=null)::
    { name: name, docker: docker, labels: labels }
    + (if underlay != null then { underlay: underlay } else {})
    + (if netns != null then { netns: netns } else {})
    + (if capacity != null then { capacity: capacity } else {})
    + (if publish != null then { publish: publish } else {})
    + (if tls != null then { tls: tls } else {})
    + (if insecure then { insecure: true } else {})
    + (if lans != null then { lans: lans } else {}),

  // network(name, subnet) is an L2 overlay network of an environment.
  network(name, subnet, vni=null, mtu=null)::
    { name: name, subnet: subnet }
    + (if vni != null then { vni: vni } else {})
    + (if mtu != null then { mtu: mtu } else {}),

  // group(name, image) is a group of containers; extend it with + { ... }.
  group(name, image, replicas=1):: { name: name, image: image, replicas: replicas },

  // members(roster) turns roster rows (objects with an id field, or plain
  // strings) into the member ids of a group.
  members(roster):: [if std.isString(r) then r else r.id for r in roster],

  // parseCSV(text) parses a roster CSV with a header line into objects.
  parseCSV(text)::
    local lines = [l for l in std.split(text, '\n') if std.length(std.stripChars(l, ' \r')) > 0];
    local header = [std.stripChars(h, ' \r') for h in std.split(lines[0], ',')];
    [
      {
        [header[i]]: std.stripChars(std.split(line, ',')[i], ' \r')
        for i in std.range(0, std.length(header) - 1)
      }
      for line in lines[1:]
    ],

  // secret(name) refers to a secret kept outside Git, in the secrets
  // directory of the machine that applies; use it in env values and file
  // contents. The value never appears in plans, reports or labels.
  secret(name):: '${rensei:secret:' + name + '}',

  // derivedSecret(name, context) is a value derived from secret name for
  // context (HMAC): one master secret, one token per student, e.g.
  // derivedSecret('notebook', env + '/' + member).
  derivedSecret(name, context):: '${rensei:secret:' + name + ':' + context + '}',

  // file(path, content) is a file placed into each container before it starts.
  file(path, content, mode=420):: { path: path, content: content, mode: mode },

  // course(...) is a lecture environment: one container per student on an
  // overlay network, each with a persistent home volume.
  course(name, students, sites, subnet, image='rensei/busybox:latest', owner='', labels={}, active=null, cpus=0.5, memory='256Mi')::
    {
      name: name,
      owner: owner,
      labels: labels,
      networks: [{ name: 'lab', subnet: subnet }],
      groups: [{
        name: 'student',
        image: image,
        command: ['sleep', 'infinity'],
        members: $.members(students),
        placement: { sites: sites, strategy: 'spread' },
        resources: { cpus: cpus, memory: memory },
        networks: [{ network: 'lab' }],
        volumes: [{ name: 'home', path: '/home/student' }],
      }],
    } + (if active != null then { active: active } else {}),
}
