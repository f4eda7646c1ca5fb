// Rensei's templates, embedded in the binary: import 'templates.libsonnet'.
// Each template builds one whole environment from a few parameters; change
// the result by name (r.withGroup) or extend it with + { ... } for anything
// it does not cover. The images are Rensei's own, built from Debian
// packages (make images; images/README.md). The research templates (Slurm,
// Dask, backup site, load-balanced service) are in research.libsonnet.
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
  //     student, spread over sites, each with cpus and memory, a persistent
  //     home volume as its notebook directory (/home/student), a static
  //     address on the course network, and its own token: derived from
  //     the secret tokenSecret (kept in the secrets directory of the
  //     machine that applies, never in Git) for "<name>/<student>";
  //   - group "door": the front door at frontDoor.site, nginx (image
  //     rensei/frontdoor) publishing frontDoor.port on the site's publish
  //     address and routing /user/<id>/ to that student's server over the
  //     overlay, websockets included (kernels, terminals); any other path
  //     is the course page (title, window, the pages published). Never a
  //     token;
  //   - the dataset, copied once per site into the environment-scoped
  //     volume "dataset", read-only in every home at ~/dataset;
  //   - access: `rensei access PATH --env NAME` lists each student's URL
  //     and token.
  // Adding a student creates that student's server and re-renders the
  // front door's routes (its container is replaced); nobody else changes.
  // When the window closes every server and the front door go; every home
  // volume is kept.
  //
  // Parameters:
  //   name: the environment's name (a semester: cs101-2027-fall).
  //   title: the course's title, on the course page.
  //   roster: the students: rows from rosterCSV or rosterJSON, or ids.
  //   sites: the sites the notebook servers spread over.
  //   frontDoor: { site, port } (port default 8080) of the front door.
  //   subnet: the course overlay's IPv4 CIDR; its first eighth holds the
  //     servers' static addresses (a /22: 127 students, a /20: 511).
  //   active: the semester, { from, until }; null: always.
  //   owner: who answers for the course (an e-mail address).
  //   labels: labels of the environment (course, semester).
  //   cpus: each server's CPU limit.
  //   memory: each server's memory limit (an idle server takes ~70 MiB).
  //   dataset: file name → content, read-only in every home at ~/dataset.
  //   pages: file name → HTML published on the course page.
  //   tokenSecret: the secret the students' tokens derive from.
  //   image: the notebook servers' image.
  //   doorImage: the front door's image (nginx with the proxy snippet).
  //
  // Example:
  //   t.course('cs101-2027-fall', 'CS101', ['ann', 'bob'], sites=['site-a', 'site-b'], frontDoor={ site: 'site-c' }, subnet='198.19.36.0/22')
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
}
