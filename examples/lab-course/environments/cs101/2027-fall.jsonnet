// CS101 in the fall of 2027, written out whole: 40 students, three sites.
local t = import 'templates.libsonnet';

t.course(
  'cs101-2027-fall',
  title='CS101 Introduction to Systems, 2027-fall',
  roster=t.rosterJSON(importstr 'roster-2027-fall.json', 'roster-2027-fall.json'),
  sites=['site-a', 'site-b'],
  frontDoor={ site: 'site-c', port: 8081 },
  subnet='198.19.36.0/22',
  active={ from: '2027-10-01', until: '2028-02-01' },
  owner='lecturer@example.edu',
  cpus=0.1,
  memory='256Mi',
  dataset={ 'README.txt': 'CS101 course data, read-only.\n' },
)
