// CS101's settings, shared by every semester: the semester files
// (2027-spring.jsonnet, 2027-fall.jsonnet) give only what changes.
local t = import 'templates.libsonnet';

{
  // semester(...) is one semester of CS101: name, roster rows (from
  // t.rosterCSV or t.rosterJSON), overlay subnet, front door port and
  // active window.
  semester(name, semester, roster, subnet, port, active)::
    t.course(
      name,
      title='CS101 Introduction to Systems, ' + semester,
      roster=roster,
      // Notebook servers spread over two sites; the front door sits at a third.
      sites=['site-a', 'site-b'],
      frontDoor={ site: 'site-c', port: port },
      subnet=subnet,
      active=active,
      owner='lecturer@example.edu',
      labels={ course: 'cs101', semester: semester },
      // Per-student limits, also counted against each host's capacity.
      cpus=0.1,
      memory='256Mi',
      // Read-only in every home at ~/dataset.
      dataset={
        'README.txt': 'CS101 course data. Read-only: copy what you change to your home directory.\n',
        'words.txt': std.join('\n', ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot']) + '\n',
      },
      pages={ 'syllabus.html': importstr 'syllabus.html' },
    ),
}
