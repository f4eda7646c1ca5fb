// A big-data workflow in one environment, for one week:
//   1. stage: the data set is generated at campus (site-a) into the volume
//      "dataset" (in real use: copied in from the instrument);
//   2. compute: Dask workers in the cloud (site-b) compute on it; a Dask
//      worker at campus is the only one that reads the volume, and ships
//      each file over the overlay;
//   3. results: the job at campus writes the result, and which worker at
//      which site ran each task, to the volume "results" at campus
//      (/results/climate-2027w23.json).
// When the window closes every container goes; the volumes (data set and
// results) stay at campus until `rensei volumes prune`.
local research = import 'research.libsonnet';

research.bigData(
  'climate-2027w23',
  subnet='198.19.44.0/24',
  campus='site-a',
  cloud='site-b',
  active={ from: '2027-06-07', until: '2027-06-14' },
  workers=2,
  files=16,
  rows=100000,
  owner='climate-lab@example.edu',
  labels={ project: 'climate', workflow: 'weekly' },
)
