// Data analysis with the data on campus and the compute in the cloud, on
// one overlay across the lab's sites (sites/lab.jsonnet), with Dask from
// Debian (image rensei/dask; Spark and Hadoop are not packaged in Debian):
//   - site-a (campus) holds the data set in the volume "dataset": group
//     "stage" generates it once; group "data" is a Dask worker that mounts
//     it read-only and is the only one allowed to load it (DATA=1);
//   - site-b (cloud) runs the scheduler and two compute workers
//     (COMPUTE=1), which receive each loaded file over the overlay and
//     compute on it.
// Run the analysis from the scheduler's container (see the README); its
// JSON says which worker at which site ran each task.
local research = import 'research.libsonnet';

research.dask(
  'analysis',
  subnet='198.19.40.0/24',
  dataSite='site-a',
  workers={ 'site-b': 2 },
  files=16,
  rows=100000,
  owner='research-group@example.edu',
  labels={ project: 'climate' },
)
