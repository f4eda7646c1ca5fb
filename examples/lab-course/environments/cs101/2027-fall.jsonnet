// CS101 in the fall semester of 2027, beside the spring one: its own
// environment name, subnet and window, and a roster in JSON.
local course = import 'course.libsonnet';
local t = import 'templates.libsonnet';

course.semester(
  name='cs101-2027-fall',
  semester='2027-fall',
  roster=t.rosterJSON(importstr 'roster-2027-fall.json', 'roster-2027-fall.json'),
  subnet='198.19.33.0/24',
  frontDoor='198.19.33.10',
  active={ from: '2027-10-01', until: '2028-02-01' },
)
