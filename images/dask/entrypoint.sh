#!/bin/bash
# rensei-dask-entrypoint ROLE [ARGS...]
#   ROLE: scheduler | worker | data-server | generate | client | shell (default $DASK_ROLE)
# Every daemon runs as user "dask" (uid 1000). Configuration: environment variables (README.md)
# and optionally a placed Dask config file (/etc/dask/*.yaml, read by Dask itself).
#   DASK_HOST                 the static overlay IPv4 address this container listens on AND
#                             advertises (scheduler, worker, data-server). Set it: the default
#                             guess (the interface of the default route) is wrong on a
#                             container with several networks.
#   DASK_CONTACT_ADDRESS      worker: advertise this (tcp://ADDR:PORT) instead, when the worker
#                             is reached through a NAT/published port; it then listens on
#                             DASK_LISTEN_ADDRESS (default tcp://0.0.0.0:$DASK_WORKER_PORT)
#   DASK_SCHEDULER_ADDRESS    worker, client: tcp://SCHEDULER_IP:8786
#   DASK_SCHEDULER_PORT       scheduler (8786)
#   DASK_WORKER_PORT / DASK_NANNY_PORT   worker (9000 / 9001): fixed, so they can be allowed
#   DASK_HTTP_PORT            scheduler, worker (8787): HTTP /health and /info
#   DASK_WORKER_NAME          worker (default: host name)
#   DASK_NTHREADS             worker (1)
#   DASK_MEMORY_LIMIT         worker, e.g. "700MiB" (default "auto" = cgroup limit x nthreads /
#                             host cores: half the container limit on a 2-core host)
#   DASK_RESOURCES            worker, e.g. "DATA=1" or "COMPUTE=1" (abstract resources)
#   DASK_NANNY                worker: 1 (default) runs a nanny that restarts the worker
#   RENSEI_SITE               any: the site name, reported by the client script per worker
#   DATA_DIR                  data-server, generate, worker (/data)
#   DATA_HTTP_PORT            data-server (8000)
#   RENSEI_HOSTS_FILE         (/etc/rensei/hosts) lines appended to /etc/hosts at start
set -euo pipefail

log() { echo "rensei-dask: $*" >&2; }
die() { log "error: $*"; exit 1; }

ROLE="${1:-${DASK_ROLE:-shell}}"
[ $# -gt 0 ] && shift

: "${DATA_DIR:=/data}"
: "${RENSEI_HOSTS_FILE:=/etc/rensei/hosts}"
export DATA_DIR

if [ "$(id -u)" = 0 ]; then
	if [ -r "$RENSEI_HOSTS_FILE" ]; then
		while IFS= read -r line || [ -n "$line" ]; do
			case "$line" in ''|'#'*) continue ;; esac
			grep -qxF "$line" /etc/hosts 2>/dev/null || printf '%s\n' "$line" >>/etc/hosts || true
		done <"$RENSEI_HOSTS_FILE"
	fi
	AS_DASK=(setpriv --reuid=dask --regid=dask --init-groups --inh-caps=-all)
	export HOME=/home/dask
else
	AS_DASK=()
fi
cd /var/lib/dask

case "$ROLE" in
scheduler)
	# --no-dashboard: no bokeh in the image; the HTTP server (/health, /info) stays, on a fixed port
	args=(--port "${DASK_SCHEDULER_PORT:-8786}" --no-dashboard
		--dashboard-address "${DASK_HOST:-}:${DASK_HTTP_PORT:-8787}")
	[ -n "${DASK_HOST:-}" ] && args+=(--host "$DASK_HOST") || log "warning: DASK_HOST unset"
	log "scheduler on ${DASK_HOST:-?}:${DASK_SCHEDULER_PORT:-8786}"
	exec "${AS_DASK[@]}" dask scheduler "${args[@]}" "$@"
	;;
worker)
	[ -n "${DASK_SCHEDULER_ADDRESS:-}" ] || die "DASK_SCHEDULER_ADDRESS (tcp://IP:8786) is required"
	port="${DASK_WORKER_PORT:-9000}"
	args=("$DASK_SCHEDULER_ADDRESS"
		--name "${DASK_WORKER_NAME:-$(hostname -s)}"
		--nthreads "${DASK_NTHREADS:-1}"
		--memory-limit "${DASK_MEMORY_LIMIT:-auto}"
		--local-directory /var/lib/dask
		--no-dashboard --dashboard-address "${DASK_HOST:-}:${DASK_HTTP_PORT:-8787}")
	if [ -n "${DASK_CONTACT_ADDRESS:-}" ]; then
		args+=(--listen-address "${DASK_LISTEN_ADDRESS:-tcp://0.0.0.0:$port}"
			--contact-address "$DASK_CONTACT_ADDRESS")
	else
		args+=(--worker-port "$port")
		[ -n "${DASK_HOST:-}" ] && args+=(--host "$DASK_HOST") || log "warning: DASK_HOST unset"
	fi
	if [ "${DASK_NANNY:-1}" = 1 ]; then
		args+=(--nanny --nanny-port "${DASK_NANNY_PORT:-9001}")
	else
		args+=(--no-nanny)
	fi
	[ -n "${DASK_RESOURCES:-}" ] && args+=(--resources "$DASK_RESOURCES")
	log "worker ${DASK_WORKER_NAME:-$(hostname -s)} site=${RENSEI_SITE:-?} -> $DASK_SCHEDULER_ADDRESS"
	exec "${AS_DASK[@]}" dask worker "${args[@]}" "$@"
	;;
data-server)
	# Read-only HTTP view of the data volume (python's http.server answers GET/HEAD only).
	[ -d "$DATA_DIR" ] || die "no data directory $DATA_DIR"
	log "serving $DATA_DIR read-only on ${DASK_HOST:-0.0.0.0}:${DATA_HTTP_PORT:-8000}"
	exec "${AS_DASK[@]}" python3 -m http.server --bind "${DASK_HOST:-0.0.0.0}" \
		--directory "$DATA_DIR" "${DATA_HTTP_PORT:-8000}"
	;;
generate)
	if [ "$(id -u)" = 0 ]; then install -d -o dask -g dask "$DATA_DIR"; chown dask:dask "$DATA_DIR"; fi
	exec "${AS_DASK[@]}" /usr/local/bin/rensei-dask-generate "$@"
	;;
client)
	exec "${AS_DASK[@]}" /usr/local/bin/rensei-dask-aggregate "$@"
	;;
shell)
	exec "${@:-/bin/bash}"
	;;
*)
	die "unknown role '$ROLE' (scheduler, worker, data-server, generate, client, shell)"
	;;
esac
