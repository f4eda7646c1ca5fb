// CS101 in the spring semester of 2027: one workstation per row of
// roster-2027-spring.csv. Adding or removing a row adds or removes that
// student's workstation (the home volume is kept) and re-renders the front
// door's page; nothing else changes.
local course = import 'course.libsonnet';
local t = import 'templates.libsonnet';

course.semester(
  name='cs101-2027-spring',
  semester='2027-spring',
  roster=t.rosterCSV(importstr 'roster-2027-spring.csv', 'roster-2027-spring.csv'),
  subnet='198.19.32.0/24',
  frontDoor='198.19.32.10',
  active={ from: '2027-04-01', until: '2027-08-01' },
)
