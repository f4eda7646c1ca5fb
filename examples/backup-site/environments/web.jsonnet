// A web service with a warm standby. The service runs at `active`, on the
// service address 198.19.60.10; the standby at the other site copies the
// service's data every 5 seconds across the overlay. To switch over after
// an outage, change the one line below and apply.
local active = 'site-a';

local t = import 'templates.libsonnet';
local standby = if active == 'site-a' then 'site-b' else 'site-a';

t.backup(
  'web',
  subnet='198.19.60.0/24',
  active=active,
  standby=standby,
  owner='web-team@example.edu',
  labels={ service: 'web' },
)
