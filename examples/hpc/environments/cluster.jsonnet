// An HPC cluster across the lab's three sites (sites/lab.jsonnet): Slurm
// 22.05 with MUNGE and OpenMPI from Debian (image rensei/slurm).
//   - the controller (slurmctld) and the login node at site-a;
//   - one compute node at each site: compute-site-a-0, compute-site-b-0,
//     compute-site-c-0, on one overlay, each with a home volume.
// slurm.conf is rendered from the counts below with each node's static
// address. To add a node, raise a count and apply: only the controller is
// replaced, the node joins, running jobs keep running.
// The MUNGE key is the secret "munge" (32 bytes or more) in the secrets
// directory of the machine that applies (--secrets-dir), never in Git.
local research = import 'research.libsonnet';

research.slurm(
  'hpc',
  subnet='198.19.50.0/24',
  controller='site-a',
  compute={
    'site-a': 1,
    'site-b': 1,
    'site-c': 1,
  },
  cpus=1,
  memory='512Mi',
  owner='hpc-admins@example.edu',
  labels={ project: 'batch-demo' },
)
