// Rensei's Jsonnet library, embedded in the binary: import 'rensei.libsonnet'.
// Helpers build the objects of Rensei's schema with defaults filled in;
// mixins (with*) change an environment by name; templates build whole
// environments (and templates.libsonnet has more of them). Keep std.format
// and % out of hot paths: string concatenation with + is ~100x faster in
// go-jsonnet.
//
// Each function's comment is its documentation: docs/library.md is
// generated from it (go generate ./schema). A comment starts with what the
// function returns; "Parameters:" lists each parameter as "name: meaning";
// "Example:" is an expression (r is this library, t templates.libsonnet).
{
  // site(name, hosts) is a site: a campus, a cloud region, an emulated lab
  // site, with its Docker hosts.
  //
  // Parameters:
  //   name: the site's name, a lower-case DNS label of at most 32 bytes.
  //   hosts: an array of host(...).
  //   labels: labels of the site (an object of strings).
  //
  // Example:
  //   r.site('campus', [r.host('h1', underlay='198.18.0.1')])
  site(name, hosts, labels={}):: { name: name, hosts: hosts, labels: labels },

  // host(name) is a Docker host at a site.
  //
  // Parameters:
  //   name: the host's name, unique in its site.
  //   docker: the engine's endpoint: unix:///path, tcp://host:port (with
  //     tls files, or insecure=true to accept running without) or
  //     ssh://user@host.
  //   underlay: the host's VXLAN endpoint address (IPv4); needed when a
  //     network spans hosts.
  //   netns: the network namespace the host's interfaces live in
  //     (emulated hosts); null: the root namespace.
  //   capacity: what the host offers, { cpus, memory, containers }; groups
  //     placed on it must fit.
  //   labels: labels that placement.hostLabels select on.
  //   publish: the address published ports bind to (default 127.0.0.1).
  //   tls: { ca, cert, key } file paths for a tcp:// endpoint.
  //   insecure: true to allow a tcp:// endpoint without TLS (warned about).
  //   lans: the host's own networks (CIDRs); no overlay may overlap them.
  //
  // Example:
  //   r.host('h1', underlay='198.18.0.1', capacity={ cpus: 32, memory: '128Gi' })
  host(name, docker='unix:///var/run/docker.sock', underlay=null, netns=null, capacity=null, labels={}, publish=null, tls=null, insecure=false, lans=null)::
    { name: name, docker: docker, labels: labels }
    + (if underlay != null then { underlay: underlay } else {})
    + (if netns != null then { netns: netns } else {})
    + (if capacity != null then { capacity: capacity } else {})
    + (if publish != null then { publish: publish } else {})
    + (if tls != null then { tls: tls } else {})
    + (if insecure then { insecure: true } else {})
    + (if lans != null then { lans: lans } else {}),

  // network(name, subnet) is an L2 overlay network of an environment: one
  // subnet, one VXLAN VNI, one Docker bridge network per host.
  //
  // Parameters:
  //   name: the network's name in its environment.
  //   subnet: an IPv4 CIDR, split into per-host blocks.
  //   vni: the VXLAN network identifier; null: allocated.
  //   mtu: the MTU; null: 1450 (VXLAN over a 1500-byte underlay).
  //
  // Example:
  //   r.network('lab', '198.19.0.0/24')
  network(name, subnet, vni=null, mtu=null)::
    { name: name, subnet: subnet }
    + (if vni != null then { vni: vni } else {})
    + (if mtu != null then { mtu: mtu } else {}),

  // group(name, image) is a group of identical containers; extend it with
  // + { ... } for command, members, placement, resources, networks,
  // volumes, files and ports.
  //
  // Parameters:
  //   name: the group's name in its environment.
  //   image: the image every instance runs.
  //   replicas: the number of instances, named 0..replicas-1 (give members
  //     instead for one instance per roster entry).
  //
  // Example:
  //   r.group('web', 'rensei/busybox:latest', replicas=2) + { command: ['httpd', '-f'] }
  group(name, image, replicas=1):: { name: name, image: image, replicas: replicas },

  // withGroup(name, patch) is a mixin that changes the group called name of
  // an environment, whether its groups are a list (as templates make them)
  // or an object keyed by name: env + r.withGroup('ws', { ... }). A name
  // that is no group of the environment is an error. (An environment may
  // also give its groups as an object keyed by name, groups: { ws: {...} },
  // and change one with groups+: { ws+: {...} }; a group's name is then its
  // key, and the groups are ordered by name.)
  //
  // Parameters:
  //   name: the group to change.
  //   patch: an object added to the group (use +: to extend its fields).
  //
  // Example:
  //   r.course('cs101', ['ann', 'bob'], sites=['campus'], subnet='198.19.1.0/24')
  //   + r.withGroup('student', { resources+: { cpus: 1 } })
  withGroup(name, patch):: {
    local groups = super.groups,
    local names = if std.isObject(groups) then std.objectFields(groups) else [g.name for g in groups],
    groups:
      if !std.member(names, name) then
        error 'withGroup: no group "' + name + '" (groups: ' + std.join(', ', names) + ')'
      else if std.isObject(groups) then groups { [name]+: patch }
      else [if g.name == name then g + patch else g for g in groups],
  },

  // withoutGroup(name) is a mixin that removes the group called name from
  // an environment. A name that is no group of the environment is an
  // error.
  //
  // Parameters:
  //   name: the group to remove.
  //
  // Example:
  //   { name: 'x', groups: [r.group('web', 'rensei/busybox:latest'), r.group('db', 'rensei/busybox:latest')] }
  //   + r.withoutGroup('db')
  withoutGroup(name):: {
    local groups = super.groups,
    local names = if std.isObject(groups) then std.objectFields(groups) else [g.name for g in groups],
    groups:
      if !std.member(names, name) then
        error 'withoutGroup: no group "' + name + '" (groups: ' + std.join(', ', names) + ')'
      else if std.isObject(groups) then { [k]: groups[k] for k in names if k != name }
      else [g for g in groups if g.name != name],
  },

  // members(roster) is the member ids of a roster: its rows' id fields, or
  // the rows themselves when they are strings. A group with members has
  // one instance per member.
  //
  // Parameters:
  //   roster: an array of objects with an id field (from roster or
  //     parseCSV), or of strings.
  //
  // Example:
  //   r.members([{ id: 'ann', name: 'Ann Lee' }, 'bob'])
  members(roster):: [if std.isString(row) then row else row.id for row in roster],

  // roster(text) is the students of a roster CSV as objects of its columns,
  // each with an id (the column named by column). CSV as learning
  // management systems export it: a header line, then one student a line;
  // fields with commas or quotes are quoted ("Tanaka, Yui"). Every id must
  // be 1 to 40 lower-case letters, digits and inner dashes, and appear
  // once; a roster without students is an error. Errors name file and
  // line: 'roster.csv:7: duplicate id "s003" (first at line 3)'.
  //
  // Parameters:
  //   text: the CSV text (importstr 'roster.csv').
  //   file: the file's name, for errors.
  //   column: the column holding each student's id.
  //
  // Example:
  //   r.roster('id,name\ns001,"Tanaka, Yui"\ns002,Bob Lee\n', file='roster.csv')
  roster(text, file='roster.csv', column='id'):: std.native('roster')(text, file, column),

  // parseCSV(text) is the rows of a CSV text with a header line, as objects
  // of its columns (header → field). Quoted fields may hold commas, quotes
  // and line breaks; blank lines and lines starting with # are skipped;
  // every row must have as many fields as the header. For a roster, use
  // roster: it also checks the ids.
  //
  // Parameters:
  //   text: the CSV text (importstr 'file.csv').
  //   file: the file's name, for errors.
  //
  // Example:
  //   r.parseCSV('host,site\nh1,"campus, north"\n')
  parseCSV(text, file='CSV text'):: std.native('parseCSV')(text, file),

  // secret(name) refers to a secret kept outside Git, in the secrets
  // directory of the machine that applies; use it in env values and file
  // contents. The value never appears in plans, reports or labels.
  //
  // Parameters:
  //   name: the secret's name (a file in the secrets directory).
  //
  // Example:
  //   r.group('db', 'rensei/busybox:latest') + { env: { PASSWORD: r.secret('db-password') } }
  secret(name):: '${rensei:secret:' + name + '}',

  // derivedSecret(name, context) is a value derived from secret name for
  // context (HMAC): one master secret, one token per student.
  //
  // Parameters:
  //   name: the master secret's name.
  //   context: what the value is for, e.g. env + '/' + member.
  //
  // Example:
  //   r.derivedSecret('notebook', 'cs101/ann')
  derivedSecret(name, context):: '${rensei:secret:' + name + ':' + context + '}',

  // file(path, content) is a file placed into each container of a group
  // before it starts.
  //
  // Parameters:
  //   path: the file's absolute path in the container.
  //   content: its content, rendered by Jsonnet.
  //   mode: its permissions; Jsonnet has no octal literals, so 420 is
  //     0644 (or write std.parseOctal('644')).
  //
  // Example:
  //   r.file('/etc/motd', 'Welcome\n')
  file(path, content, mode=420):: { path: path, content: content, mode: mode },

  // course(name, students, sites, subnet) is a lecture environment: group
  // "student" with one container per student, spread over sites, on an
  // overlay network "lab", each with a persistent home volume at
  // /home/student. Change it by name with withGroup.
  //
  // Parameters:
  //   name: the environment's name.
  //   students: the roster (from roster, or an array of ids).
  //   sites: the sites the students' containers spread over.
  //   subnet: the overlay's IPv4 CIDR.
  //   image: the image of the students' containers.
  //   owner: who answers for the environment (an e-mail address).
  //   labels: labels of the environment (course, semester).
  //   active: the window it exists in, { from, until } (dates or RFC 3339
  //     times); null: always.
  //   cpus: each student's CPU limit.
  //   memory: each student's memory limit (binary units: 256Mi, 1Gi).
  //
  // Example:
  //   r.course('cs101-2027-spring', r.roster('id,name\nann,Ann Lee\nbob,Bob Sato\n'), sites=['campus'], subnet='198.19.1.0/24', active={ from: '2027-04-01', until: '2027-08-01' })
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
