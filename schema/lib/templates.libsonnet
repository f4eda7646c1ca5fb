// Rensei's templates, embedded in the binary: import 'templates.libsonnet'.
// Each template builds one whole environment from a few parameters; extend
// the result with + { ... } for anything it does not cover. The images and
// commands default to stand-ins built on rensei/busybox:latest, so every
// template runs on the emulated lab (`rensei lab up`) with no registry; the
// README of each example says what to replace for the real software.
//
// Rosters are read with importstr and parsed here: rosterCSV and rosterJSON
// check every id (lower-case letters, digits and inner dashes, at most 40
// bytes; no duplicates) and fail with an error naming the roster file.
//
// Keep std.format and % out of this file: string concatenation with + is
// ~100x faster in go-jsonnet, and rosters can have thousands of rows.
local r = import 'rensei.libsonnet';

local idCharList = std.stringChars('abcdefghijklmnopqrstuvwxyz0123456789-');

// An object, not a set: field lookup is native, std.setMember is Jsonnet code.
local idChars = { [c]: true for c in idCharList };

local maxId = 40;

{
  // validId(id) is true when id can name a group instance (and so a
  // container, a hostname and a volume): 1 to 40 lower-case letters, digits
  // and inner dashes.
  validId(id)::
    std.isString(id)
    && std.length(id) > 0
    && std.length(id) <= maxId
    && id[0] != '-'
    && id[std.length(id) - 1] != '-'
    && std.all([std.objectHas(idChars, c) for c in std.stringChars(id)]),

  // checkRoster(rows, where) returns rows (objects with an id field) when
  // every id is valid and unique; otherwise it fails naming the first bad
  // row, located by where(row) (e.g. "roster.csv:7"). O(n log n).
  checkRoster(rows, where)::
    local ids = [row.id for row in rows];
    // Fast path for thousands of rows: the shape of each id with native
    // calls, and the characters of all ids at once by deleting every
    // allowed character from their concatenation. Only when that finds
    // something is each id checked character by character, to name it.
    local shaped(id) = std.isString(id) && std.length(id) > 0 && std.length(id) <= maxId
                       && id[0] != '-' && id[std.length(id) - 1] != '-';
    local allShaped = std.all([shaped(id) for id in ids]);
    local allChars = allShaped && std.foldl(function(s, c) std.strReplace(s, c, ''), idCharList, std.join('', ids)) == '';
    local bad = if allChars then [] else [row for row in rows if !$.validId(row.id)];
    local sorted = std.sort(ids);
    local dups = [sorted[i] for i in std.range(1, std.length(sorted) - 1) if sorted[i] == sorted[i - 1]];
    if std.length(bad) > 0 then
      error where(bad[0]) + ': invalid id ' + std.manifestJson(bad[0].id)
            + ': want 1 to ' + maxId + ' lower-case letters, digits and inner dashes'
    else if std.length(dups) > 0 then
      local same = [row for row in rows if row.id == dups[0]];
      error where(same[1]) + ': duplicate id "' + dups[0] + '" (first at ' + where(same[0]) + ')'
    else rows,

  // rosterCSV(text, file) parses a roster in CSV: a header line naming the
  // columns (one must be "id"), then one student a line, quoted as
  // spreadsheets and learning management systems write CSV (r.roster:
  // encoding/csv). Errors name file and line:
  // 'roster.csv:7: duplicate id "s003"'. Each row is an object of its columns.
  rosterCSV(text, file):: r.roster(text, file=file),

  // rosterJSON(text, file) parses a roster in JSON: an array of objects
  // with an id field (or of plain id strings). Errors name file and entry:
  // 'roster.json: entry 3: invalid id "Ann Lee"'.
  rosterJSON(text, file)::
    local data = std.parseJson(text);
    local entries = if std.isArray(data) then data else error file + ': want an array of students';
    local rows = [
      local e = entries[i];
      (if std.isString(e) then { id: e }
       else if std.isObject(e) && std.objectHas(e, 'id') then e
       else error file + ': entry ' + (i + 1) + ': want an object with an "id" field')
      + { line:: i + 1 }
      for i in std.range(0, std.length(entries) - 1)
    ];
    $.checkRoster(rows, function(row) file + ': entry ' + row.line),

  // escapeHTML(s) escapes &, < and > for use in an HTML page.
  escapeHTML(s):: std.strReplace(std.strReplace(std.strReplace(s, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),

  // hostAddr(subnet, n) is the n-th address of an IPv4 subnet whose network
  // address ends in .0 (e.g. hostAddr('198.19.40.0/24', 10) is
  // '198.19.40.10'); n must stay below 256. Static addresses go in the
  // subnet's first block (the first eighth by default).
  hostAddr(subnet, n)::
    local o = std.split(std.split(subnet, '/')[0], '.');
    o[0] + '.' + o[1] + '.' + o[2] + '.' + (std.parseInt(o[3]) + n),

  // seeder(name, volume, path, files, site) is a group of one container at
  // site that copies files (an object: file name → content) into the
  // environment-scoped volume at path, then idles. Environment-scoped
  // volumes exist once per host, so a dataset read by containers on several
  // sites needs one seeder per site (the lab's sites have one host each).
  seeder(name, volume, path, files, site, image='rensei/busybox:latest')::
    {
      name: name,
      image: image,
      replicas: 1,
      command: ['sh', '-c', 'cp /seed/* ' + path + '/ && exec sleep infinity'],
      placement: { sites: [site] },
      resources: { cpus: 0.1, memory: '16Mi' },
      volumes: [{ name: volume, path: path, scope: 'environment' }],
      files: [r.file('/seed/' + f, files[f]) for f in std.objectFields(files)],
    },

  // course(...) is one semester of a course with a Jupyter notebook server
  // per student, the way CoursewareHub runs them, across sites:
  //   - group "nb": one notebook server (image rensei/notebook) per
  //     student of roster (rows from rosterCSV or rosterJSON, or plain
  //     ids), spread over sites, each with cpus and memory, a persistent
  //     home volume as its notebook directory (/home/student), a static
  //     address on the course network, and its own token: derived from
  //     the secret tokenSecret (kept in the secrets directory of the
  //     machine that applies, never in Git) for "<name>/<student>";
  //   - group "door": the front door at frontDoor.site, nginx (image
  //     rensei/frontdoor) publishing frontDoor.port (default 8080) on the
  //     site's publish address and routing /user/<id>/ to that student's
  //     server over the overlay, websockets included (kernels, terminals);
  //     any other path is the course page: title, window, and the files
  //     of pages (file name → HTML) the lecturer publishes. Never a token;
  //   - the dataset (file name → content), copied once per site into the
  //     environment-scoped volume "dataset", read-only in every home at
  //     ~/dataset;
  //   - access: `rensei access PATH --env NAME` lists each student's URL
  //     and token.
  // Adding a student creates that student's server and re-renders the
  // front door's routes (its container is replaced); nobody else changes.
  // When the window closes every server and the front door go; every home
  // volume is kept.
  course(name,
         title,
         roster,
         sites,
         frontDoor,
         subnet,
         active=null,
         owner='',
         labels={},
         cpus=0.5,
         memory='512Mi',
         dataset={},
         pages={},
         tokenSecret='notebook',
         image='rensei/notebook:latest',
         doorImage='rensei/frontdoor:latest')::
    local ids = [if std.isString(row) then row else row.id for row in roster];
    local port = if std.objectHas(frontDoor, 'port') then frontDoor.port else 8080;
    local token = r.derivedSecret(tokenSecret, name + '/${rensei:instance}');
    local window =
      if active == null then 'always'
      else (if std.objectHas(active, 'from') then 'from ' + active.from + ' ' else '')
           + (if std.objectHas(active, 'until') then 'until ' + active.until else '');
    local routes = std.join('', ['\t' + id + ' ${rensei:address:nb/' + id + '};\n' for id in ids]);
    local site = |||
      # Written by Rensei's course template: /user/<id>/ → that student's
      # notebook server (its static address on the course overlay).
      map $user $notebook {
      	default "";
    ||| + routes + |||
      }
      server {
      	listen 80 default_server;
      	root /srv/www;
      	location = /healthz {
      		access_log off;
      		default_type text/plain;
      		return 200 "ok\n";
      	}
      	location ~ ^/user/(?<user>[a-z0-9][a-z0-9-]*)$ {
      		return 302 $uri/;
      	}
      	location ~ ^/user/(?<user>[a-z0-9][a-z0-9-]*)/ {
      		if ($notebook = "") {
      			return 404;
      		}
      		proxy_pass http://$notebook:8888;
      		include snippets/rensei-proxy.conf;
      	}
      	location / {
      		try_files $uri $uri/ =404;
      	}
      }
    |||;
    local page =
      '<!doctype html>\n<meta charset="utf-8">\n<title>' + $.escapeHTML(title) + '</title>\n'
      + '<h1>' + $.escapeHTML(title) + '</h1>\n'
      + '<p>Active ' + window + '. ' + std.length(ids) + ' students.</p>\n'
      + '<p>Your notebook is at <code>/user/&lt;your id&gt;/</code> on this server; your lecturer gives you its token.</p>\n'
      + (if std.length(pages) > 0 then
           '<h2>Course material</h2>\n<ul>\n'
           + std.join('', ['<li><a href="' + f + '">' + $.escapeHTML(f) + '</a></li>\n' for f in std.objectFields(pages)])
           + '</ul>\n'
         else '');
    local datasetMount = if std.length(dataset) > 0 then [{ name: 'dataset', path: '/home/student/dataset', scope: 'environment', readOnly: true }] else [];
    {
      name: name,
      owner: owner,
      labels: labels,
      networks: [r.network('course', subnet)],
      groups: [
        {
          name: 'nb',
          image: image,
          members: ids,
          env: { NOTEBOOK_TOKEN: token, NOTEBOOK_BASE_URL: '/user/${rensei:instance}/' },
          placement: { sites: sites, strategy: 'spread' },
          resources: { cpus: cpus, memory: memory },
          networks: [{ network: 'course', static: true }],
          volumes: [{ name: 'home', path: '/home/student' }] + datasetMount,
        },
        {
          name: 'door',
          image: doorImage,
          replicas: 1,
          placement: { sites: [frontDoor.site] },
          resources: { cpus: 0.5, memory: '64Mi' },
          networks: [{ network: 'course', aliases: ['www'] }],
          ports: [{ container: 80, host: port }],
          files: [r.file('/etc/nginx/conf.d/rensei.conf', site), r.file('/srv/www/index.html', page)]
                 + [r.file('/srv/www/' + f, pages[f]) for f in std.objectFields(pages)],
        },
      ] + (
        if std.length(dataset) > 0
        then [$.seeder('dataset-' + s, 'dataset', '/dataset', dataset, s, doorImage) for s in sites]
        else []
      ),
      access: {
        group: 'nb',
        url: 'http://${rensei:publish:door/0:80}/user/${rensei:instance}/',
        token: token,
      },
    } + (if active != null then { active: active } else {}),

  // labCourse(...) is one semester of a lab course:
  //   - group "ws": one workstation container per student of roster (rows
  //     from rosterCSV or rosterJSON), spread over sites, each with the
  //     per-student limits cpus and memory and a persistent home volume;
  //   - the dataset (an object: file name → content), copied once per site
  //     into the environment-scoped volume "dataset" and mounted read-only
  //     in every workstation at /dataset;
  //   - group "www": the front door, one busybox httpd at frontDoor.site on
  //     the static address frontDoor.address, serving a page rendered from
  //     the roster: each student and the hostname of their workstation
  //     (ws-<id>), also as plain text at /students.txt;
  //   - one overlay network "lab" on subnet joining all of them.
  // Adding or dropping a student creates or deletes that student's
  // workstation (the home volume is kept) and re-renders the front door's
  // page, which replaces the front door container; nothing else changes.
  labCourse(name,
            title,
            roster,
            sites,
            subnet,
            frontDoor,
            active=null,
            owner='',
            labels={},
            image='rensei/busybox:latest',
            cpus=0.25,
            memory='64Mi',
            dataset={},
            home='/home/student')::
    local ids = [row.id for row in roster];
    local nameOf(row) = if std.objectHas(row, 'name') then row.name else row.id;
    local window =
      if active == null then 'always'
      else (if std.objectHas(active, 'from') then 'from ' + active.from + ' ' else '')
           + (if std.objectHas(active, 'until') then 'until ' + active.until else '');
    local page =
      '<!doctype html>\n<meta charset="utf-8">\n<title>' + $.escapeHTML(title) + '</title>\n'
      + '<h1>' + $.escapeHTML(title) + '</h1>\n'
      + '<p>Environment ' + name + ', active ' + window + '. ' + std.length(roster) + ' students.</p>\n'
      + '<p>Every workstation is on the overlay network ' + subnet + '; reach one from another by its hostname on the same site, or by the address <code>hostname -i</code> prints on it.</p>\n'
      + '<table>\n<tr><th>Student</th><th>Name</th><th>Workstation</th></tr>\n'
      + std.join('', [
        '<tr><td>' + row.id + '</td><td>' + $.escapeHTML(nameOf(row)) + '</td><td>ws-' + row.id + '</td></tr>\n'
        for row in roster
      ])
      + '</table>\n';
    local list = std.join('', [row.id + '\tws-' + row.id + '\t' + nameOf(row) + '\n' for row in roster]);
    local datasetMount = if std.length(dataset) > 0 then [{ name: 'dataset', path: '/dataset', scope: 'environment', readOnly: true }] else [];
    {
      name: name,
      owner: owner,
      labels: labels,
      networks: [r.network('lab', subnet)],
      groups: [
        {
          name: 'ws',
          image: image,
          command: ['sleep', 'infinity'],
          members: ids,
          placement: { sites: sites, strategy: 'spread' },
          resources: { cpus: cpus, memory: memory },
          networks: [{ network: 'lab' }],
          volumes: [{ name: 'home', path: home }] + datasetMount,
          files: [r.file('/etc/motd', title + '\nYour home directory ' + home + ' is kept between sessions; the course data is in /dataset (read-only).\n')],
        },
        {
          name: 'www',
          image: image,
          replicas: 1,
          command: ['httpd', '-f', '-p', '80', '-h', '/var/www'],
          placement: { sites: [frontDoor.site] },
          resources: { cpus: 0.25, memory: '32Mi' },
          networks: [{ network: 'lab', address: frontDoor.address, aliases: ['www'] }],
          files: [r.file('/var/www/index.html', page), r.file('/var/www/students.txt', list)],
        },
      ] + (
        if std.length(dataset) > 0
        then [$.seeder('dataset-' + s, 'dataset', '/dataset', dataset, s, image) for s in sites]
        else []
      ),
    } + (if active != null then { active: active } else {}),

  // spark(...) is a data-analysis cluster in the shape of Spark standalone:
  //   - group "master" (one container) at computeSites[0], on the static
  //     address hostAddr(subnet, 10), serving a status page;
  //   - group "worker": workers containers spread over computeSites, each
  //     with MASTER_URL and DATA_URL in its environment;
  //   - group "data": the data node at dataSite (typically on campus, where
  //     the data may stay), on hostAddr(subnet, 20), serving the files of
  //     dataset (file name → content) from a persistent volume over HTTP;
  //   - one overlay network "data" joining the sites as one LAN.
  // The stand-in commands (busybox) make each worker fetch its partition
  // part-<i mod parts>.csv from the data node every 15 s across the
  // overlay and count its rows into /tmp/last; set image and the commands
  // (+ { groups: ... }) for a real Spark image.
  spark(name,
        subnet,
        computeSites,
        dataSite,
        workers=3,
        dataset={},
        active=null,
        owner='',
        labels={},
        image='rensei/busybox:latest',
        cpus=0.5,
        memory='128Mi')::
    local master = $.hostAddr(subnet, 10);
    local data = $.hostAddr(subnet, 20);
    local parts = std.max(1, std.length(dataset));
    local status =
      '<!doctype html>\n<title>' + name + '</title>\n<h1>' + name + ': master</h1>\n'
      + '<p>' + workers + ' workers on ' + std.join(', ', computeSites) + '; data node at ' + dataSite + ' (' + data + ').</p>\n'
      + '<ul>\n' + std.join('', ['<li>worker-' + i + '</li>\n' for i in std.range(0, workers - 1)]) + '</ul>\n';
    {
      name: name,
      owner: owner,
      labels: labels,
      networks: [r.network('data', subnet)],
      groups: [
        {
          name: 'master',
          image: image,
          replicas: 1,
          command: ['httpd', '-f', '-p', '8080', '-h', '/srv'],
          placement: { sites: [computeSites[0]] },
          resources: { cpus: cpus, memory: memory },
          networks: [{ network: 'data', address: master, aliases: ['master'] }],
          files: [r.file('/srv/index.html', status)],
        },
        {
          name: 'worker',
          image: image,
          replicas: workers,
          command: ['sh', '-c', 'while :; do wget -q -O /tmp/part.csv "$DATA_URL/part-$((RENSEI_INSTANCE % ' + parts + ')).csv" && wc -l < /tmp/part.csv > /tmp/last; sleep 15; done'],
          env: { MASTER_URL: 'spark://' + master + ':7077', DATA_URL: 'http://' + data },
          placement: { sites: computeSites, strategy: 'spread' },
          resources: { cpus: cpus, memory: memory },
          networks: [{ network: 'data' }],
        },
        {
          name: 'data',
          image: image,
          replicas: 1,
          // Seed files are copied only when absent: the data on the volume wins.
          command: ['sh', '-c', 'for f in /seed/*; do [ -e "/data/${f##*/}" ] || cp "$f" /data/; done; exec httpd -f -p 80 -h /data'],
          placement: { sites: [dataSite] },
          resources: { cpus: 0.25, memory: '64Mi' },
          networks: [{ network: 'data', address: data, aliases: ['data'] }],
          volumes: [{ name: 'data', path: '/data' }],
          files: [r.file('/seed/' + f, dataset[f]) for f in std.objectFields(dataset)],
        },
      ],
    } + (if active != null then { active: active } else {}),

  // mpi(...) is an HPC cluster in the shape of MPI with a batch queue, all
  // at one site (whose hosts share the queue volume; the lab's sites have
  // one host each):
  //   - group "head" (one container) on the static address
  //     hostAddr(subnet, 10), with /etc/hostfile listing the compute nodes
  //     (compute-<i> slots=<slots>), the command `submit` that queues a
  //     shell script, and httpd serving the queue (results in /done/);
  //   - group "compute": nodes containers, each running a worker that
  //     claims a job from /queue/new by renaming it (atomic on one file
  //     system, so a job runs once), runs it, and writes its output and exit
  //     status to /queue/done/<job>.out;
  //   - the environment-scoped volume "queue" mounted at /queue on both.
  // Submit: docker exec <env>_head_0 submit 'echo hello from $(hostname)'.
  // The queue is a stand-in for Slurm or PBS; replace image and commands
  // for an MPI runtime (the hostfile is in the format mpirun reads).
  mpi(name,
      subnet,
      site,
      nodes=4,
      slots=1,
      active=null,
      owner='',
      labels={},
      image='rensei/busybox:latest',
      cpus=1,
      memory='256Mi')::
    local head = $.hostAddr(subnet, 10);
    local hostfile = std.join('', ['compute-' + i + ' slots=' + slots + '\n' for i in std.range(0, nodes - 1)]);
    local submit = |||
      #!/bin/sh
      # submit SCRIPT... queues one job running SCRIPT with sh; prints its name.
      set -e
      [ $# -gt 0 ] || { echo "usage: submit 'shell commands'" >&2; exit 2; }
      job=job-$(date +%s)-$$
      printf '%s\n' "$*" > /queue/tmp/$job
      mv /queue/tmp/$job /queue/new/$job.sh
      echo $job
    |||;
    local worker = |||
      #!/bin/sh
      # Claims jobs from /queue/new by rename, so each runs on one node only.
      mkdir -p /queue/new /queue/running /queue/done /queue/tmp
      while :; do
        for j in /queue/new/*.sh; do
          [ -e "$j" ] || continue
          n=${j##*/}; n=${n%.sh}
          mine=/queue/running/$n.$HOSTNAME
          mv "$j" "$mine" 2>/dev/null || continue
          sh "$mine" > /queue/done/$n.out 2>&1
          echo "exit $? on $HOSTNAME" >> /queue/done/$n.out
          rm -f "$mine"
        done
        sleep 2
      done
    |||;
    local queue = [{ name: 'queue', path: '/queue', scope: 'environment' }];
    {
      name: name,
      owner: owner,
      labels: labels,
      networks: [r.network('hpc', subnet)],
      groups: [
        {
          name: 'head',
          image: image,
          replicas: 1,
          command: ['sh', '-c', 'mkdir -p /queue/new /queue/running /queue/done /queue/tmp && exec httpd -f -p 80 -h /queue'],
          placement: { sites: [site] },
          resources: { cpus: 0.25, memory: '64Mi' },
          networks: [{ network: 'hpc', address: head, aliases: ['head'] }],
          volumes: queue,
          files: [r.file('/etc/hostfile', hostfile), r.file('/usr/local/bin/submit', submit, mode=493)],
        },
        {
          name: 'compute',
          image: image,
          replicas: nodes,
          command: ['/usr/local/bin/worker'],
          placement: { sites: [site], strategy: 'pack' },
          resources: { cpus: cpus, memory: memory },
          networks: [{ network: 'hpc' }],
          volumes: queue,
          files: [r.file('/usr/local/bin/worker', worker, mode=493), r.file('/etc/hostfile', hostfile)],
        },
      ],
    } + (if active != null then { active: active } else {}),

  // backup(...) is a service with a warm standby at a second site:
  //   - group "service" at active, on the static address hostAddr(subnet,
  //     10): busybox httpd serving the page and the data volume, and a
  //     writer appending a timestamp to /var/www/data/log.txt every 10 s
  //     (the service's state);
  //   - group "standby" at standby, on hostAddr(subnet, 11), copying
  //     log.txt from the service every 5 s over the overlay into its own
  //     data volume;
  //   - the environment-scoped volume "data" (one per host) for both, so
  //     after a switch-over the service finds the standby's copy on its new
  //     site and goes on from there;
  //   - one overlay network "svc".
  // Switch over by swapping active and standby: the service moves (its
  // container is created at the new site, removed at the old one, keeping
  // its address) and the standby takes the other site; no volume is
  // deleted. Writes made after the standby's last copy are lost: a warm
  // standby, not synchronous replication.
  backup(name,
         subnet,
         active,
         standby,
         page='',
         activeWindow=null,
         owner='',
         labels={},
         image='rensei/busybox:latest',
         cpus=0.25,
         memory='64Mi')::
    local service = $.hostAddr(subnet, 10);
    local data = [{ name: 'data', path: '/var/www/data', scope: 'environment' }];
    local index = if page != '' then page else
      '<!doctype html>\n<title>' + name + '</title>\n<h1>' + name + '</h1>\n'
      + '<p>Served from ' + active + '; warm standby at ' + standby + '. <a href="data/log.txt">log</a></p>\n';
    assert active != standby : 'backup ' + name + ': active and standby are both ' + active;
    {
      name: name,
      owner: owner,
      labels: labels,
      networks: [r.network('svc', subnet)],
      groups: [
        {
          name: 'service',
          image: image,
          replicas: 1,
          command: ['sh', '-c', 'httpd -p 80 -h /var/www && while :; do date -u +%FT%TZ >> /var/www/data/log.txt; sleep 10; done'],
          env: { SITE_ROLE: 'active' },
          placement: { sites: [active] },
          resources: { cpus: cpus, memory: memory },
          networks: [{ network: 'svc', address: service, aliases: ['service'] }],
          volumes: data,
          files: [r.file('/var/www/index.html', index)],
        },
        {
          name: 'standby',
          image: image,
          replicas: 1,
          command: ['sh', '-c', 'while :; do wget -q -O /var/www/data/.log.txt http://' + service + '/data/log.txt && mv /var/www/data/.log.txt /var/www/data/log.txt; sleep 5; done'],
          env: { SITE_ROLE: 'standby' },
          placement: { sites: [standby] },
          resources: { cpus: 0.1, memory: '32Mi' },
          networks: [{ network: 'svc', address: $.hostAddr(subnet, 11), aliases: ['standby'] }],
          volumes: data,
        },
      ],
    } + (if activeWindow != null then { active: activeWindow } else {}),
}
