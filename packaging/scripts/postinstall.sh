#!/bin/sh
# The service is not enabled here: it needs RENSEI_REPO in /etc/default/rensei.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	if systemctl is-enabled --quiet rensei-daemon.service 2>/dev/null; then
		systemctl try-restart rensei-daemon.service || true
	fi
fi
if [ "$1" = configure ] && [ -z "$2" ]; then
	echo "rensei: set RENSEI_REPO in /etc/default/rensei, then: systemctl enable --now rensei-daemon.service"
fi
exit 0
