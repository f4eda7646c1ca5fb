// An HPC cluster in the shape of MPI with a batch queue: a head node on
// 198.19.50.10 and four compute nodes at site-a, sharing the queue volume.
// This is a template to start from, not a scheduler: the queue is a
// directory that compute nodes poll (see the README).
local t = import 'templates.libsonnet';

t.mpi(
  'hpc',
  subnet='198.19.50.0/24',
  site='site-a',
  nodes=4,
  slots=1,
  owner='hpc-admins@example.edu',
  labels={ project: 'batch-demo' },
  cpus=0.5,
  memory='128Mi',
)
