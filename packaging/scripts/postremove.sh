#!/bin/sh
# /var/lib/rensei (systemd's StateDirectory=: a cache of the config remote,
# possibly shared with "rensei status" run as root) is left in place, even
# on purge: remove it by hand when no longer wanted.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
