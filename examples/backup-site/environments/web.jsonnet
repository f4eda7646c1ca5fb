// A web service with a warm standby at a backup site (image rensei/backup:
// nginx, rsync and restic from Debian):
//   - the service runs at `primary` on 198.19.60.10 and serves the files of
//     its site's volume "data";
//   - the standby at the other site pulls them every 60 s (rsync -a
//     --delete) and keeps restic snapshots of each copy.
// After an outage of the primary site, promote the standby by changing the
// one line below and apply: the service starts at the backup site on the
// last replicated data, on the same address. When the old site is back it
// becomes the standby of the new primary.
// The secrets "backup-rsync" and "backup-restic" are in the secrets
// directory of the machine that applies (--secrets-dir), never in Git.
local primary = 'site-a';

local research = import 'research.libsonnet';

research.backupSite(
  'web',
  subnet='198.19.60.0/24',
  primary=primary,
  standby=if primary == 'site-a' then 'site-b' else 'site-a',
  interval=60,
  port=8081,
  owner='web-team@example.edu',
  labels={ service: 'web' },
)
