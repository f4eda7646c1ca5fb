// A data-analysis cluster in the shape of Spark standalone, on one L2
// overlay across sites (sites/lab.jsonnet):
//   - the data node stays on campus (site-a): the data set lives on its
//     persistent volume and is served from 198.19.40.20;
//   - the master (198.19.40.10) and the workers run at the cloud site
//     (site-b) and read their partitions from the data node across the
//     overlay, as if both sites were one LAN.
// Scale with workers=; move compute by changing computeSites.
local t = import 'templates.libsonnet';

// Four partitions of a small CSV data set, rendered here.
local part(i) =
  'station,hour,celsius\n'
  + std.join('', ['st' + i + ',' + h + ',' + (10 + (h * 7 + i * 3) % 15) + '\n' for h in std.range(0, 23)]);

t.spark(
  'analysis',
  subnet='198.19.40.0/24',
  computeSites=['site-b'],
  dataSite='site-a',
  workers=3,
  dataset={ ['part-' + i + '.csv']: part(i) for i in std.range(0, 3) },
  owner='research-group@example.edu',
  labels={ project: 'climate' },
)
