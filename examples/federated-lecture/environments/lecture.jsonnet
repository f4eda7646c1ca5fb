// A lecture spread over the three lab sites (sites/lab.jsonnet):
//   - one container per student of the roster, spread over site-a and
//     site-b, each with a persistent home volume;
//   - a course web page (busybox httpd) at site-c on the static address
//     198.19.20.10; the page is rendered here, from the same roster;
//   - one L2 overlay, 198.19.20.0/24, joining all of them across the sites
//     (VXLAN between the sites' underlay addresses).
// Adding a row to roster.csv adds a student; removing this file tears the
// environment down and keeps the students' home volumes.
local r = import 'rensei.libsonnet';

local roster = r.parseCSV(importstr 'roster.csv');
local course = { code: 'NET101', title: 'Networks 101: one LAN over three sites', semester: '2027-spring' };
local www = '198.19.20.10';

local page =
  '<!doctype html>\n<meta charset="utf-8">\n<title>' + course.code + '</title>\n'
  + '<h1>' + course.code + ': ' + course.title + '</h1>\n'
  + '<p>Semester ' + course.semester + '. Served from site-c at ' + www + '.</p>\n'
  + '<h2>Students</h2>\n<ul>\n'
  + std.join('', ['<li>' + s.id + ': ' + s.name + '</li>\n' for s in roster])
  + '</ul>\n';

r.course(
  'lecture',
  roster,
  sites=['site-a', 'site-b'],
  subnet='198.19.20.0/24',
  owner='lecturer@example.edu',
  labels={ course: std.asciiLower(course.code), semester: course.semester },
  cpus=0.25,
  memory='64Mi',
) + {
  // A fixed VNI keeps the device name short and known: rs-vx-2020.
  networks: [n { vni: 2020 } for n in super.networks],
  groups+: [
    r.group('www', 'rensei/busybox:latest') + {
      command: ['httpd', '-f', '-p', '80', '-h', '/var/www'],
      placement: { sites: ['site-c'] },
      networks: [{ network: 'lab', address: www }],
      files: [r.file('/var/www/index.html', page)],
      resources: { cpus: 0.25, memory: '32Mi' },
    },
  ],
}
