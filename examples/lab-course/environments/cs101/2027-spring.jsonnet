// CS101 in the spring semester of 2027: one notebook server per row of
// roster-2027-spring.csv. Adding or removing a row adds or removes that
// student's server (the home volume is kept) and re-renders the front
// door's routes; nothing else changes.
local course = import 'course.libsonnet';
local t = import 'templates.libsonnet';

course.semester(
  name='cs101-2027-spring',
  semester='2027-spring',
  roster=t.rosterCSV(importstr 'roster-2027-spring.csv', 'roster-2027-spring.csv'),
  subnet='198.19.32.0/22',
  port=8080,
  active={ from: '2027-04-01', until: '2027-08-01' },
)
