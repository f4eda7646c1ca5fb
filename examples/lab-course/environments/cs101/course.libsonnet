// CS101's settings, shared by every semester: the semester files
// (2027-spring.jsonnet, 2027-fall.jsonnet) give only what changes.
local t = import 'templates.libsonnet';

{
  // semester(...) is one semester of CS101: name, roster rows (from
  // t.rosterCSV or t.rosterJSON), overlay subnet, front door address and
  // active window.
  semester(name, semester, roster, subnet, frontDoor, active)::
    t.labCourse(
      name,
      title='CS101 Introduction to Systems, ' + semester,
      roster=roster,
      // Workstations spread over two sites; the front door sits at a third.
      sites=['site-a', 'site-b'],
      subnet=subnet,
      frontDoor={ site: 'site-c', address: frontDoor },
      active=active,
      owner='lecturer@example.edu',
      labels={ course: 'cs101', semester: semester },
      // Per-student limits, also counted against each host's capacity.
      cpus=0.25,
      memory='64Mi',
      // Read-only in every workstation at /dataset.
      dataset={
        'README.txt': 'CS101 course data. Read-only: copy what you change to your home directory.\n',
        'words.txt': std.join('\n', ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot']) + '\n',
      },
    ),
}
