#!/bin/bash
# rensei-dask-entrypoint ROLE [ARGS...]
#   ROLE: scheduler | worker | data-server | generate | client | stage | job | shell
#         (default $DASK_ROLE)
#   stage [GENERATE ARGS]  generate the data set into DATA_DIR unless its manifest.json is
#                          there, then stay up (a declared container is started again when it
#                          exits, so one-shot steps idle once done)
#   job [CLIENT ARGS]      run the aggregate client until it succeeds, write its JSON to
#                          RESULT_FILE (default /results/result.json) unless that file is
#                          there, then stay up
# Every daemon runs as user "dask" (uid 1000). Configuration: environment variables (README.md)
# and optionally a placed Dask config file (/etc/dask/*.yaml, read by Dask itself).
#   DASK_HOST                 the static overlay IPv4 address this container listens on AND
#                             advertises (scheduler, worker, data-server). Set it: the default
#                             guess (the interface of the default route) is wrong on a
#                             container with several networks. "auto": the source address of
#                             the route to the scheduler (else the one global IPv4 address),
#                             for replicas that share one environment
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
#   RESULT_FILE               job (/results/result.json)
#   JOB_RETRY                 job: seconds between attempts (5)
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

# DASK_HOST=auto: the replicas of a group share one environment, so none can be told its own
# address; take the source address of the route to the scheduler (the overlay), else the one
# global IPv4 address the container has.
if [ "${DASK_HOST:-}" = auto ]; then
	DASK_HOST=""
	if [ -n "${DASK_SCHEDULER_ADDRESS:-}" ]; then
		sip="${DASK_SCHEDULER_ADDRESS#*://}"
		sip="${sip%:*}"
		DASK_HOST="$(ip -4 -o route get "$sip" 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')"
	fi
	if [ -z "$DASK_HOST" ]; then
		mapfile -t addrs < <(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1)
		[ "${#addrs[@]}" = 1 ] || die "DASK_HOST=auto: ${#addrs[@]} global IPv4 addresses (${addrs[*]:-none}); set DASK_HOST"
		DASK_HOST="${addrs[0]}"
	fi
	export DASK_HOST
	log "DASK_HOST=auto: $DASK_HOST"
fi

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
stage)
	trap 'exit 0' TERM INT
	if [ "$(id -u)" = 0 ]; then install -d -o dask -g dask "$DATA_DIR"; chown dask:dask "$DATA_DIR"; fi
	if [ -e "$DATA_DIR/manifest.json" ]; then
		log "data set already staged in $DATA_DIR: $(head -c 200 "$DATA_DIR/manifest.json" | tr -d '\n ')"
	else
		"${AS_DASK[@]}" /usr/local/bin/rensei-dask-generate "$@"
		log "staged the data set in $DATA_DIR"
	fi
	sleep infinity &
	wait $!
	;;
job)
	trap 'exit 0' TERM INT
	: "${RESULT_FILE:=/results/result.json}"
	dir="$(dirname "$RESULT_FILE")"
	if [ "$(id -u)" = 0 ]; then install -d -o dask -g dask "$dir"; chown dask:dask "$dir"; fi
	if [ -e "$RESULT_FILE" ]; then
		log "result already in $RESULT_FILE: not computed again"
	else
		until "${AS_DASK[@]}" /usr/local/bin/rensei-dask-aggregate "$@" >"$dir/.result.tmp"; do
			log "job failed (see above); again in ${JOB_RETRY:-5}s"
			sleep "${JOB_RETRY:-5}" &
			wait $! || true
		done
		mv "$dir/.result.tmp" "$RESULT_FILE"
		log "job done: $RESULT_FILE"
	fi
	sleep infinity &
	wait $!
	;;
shell)
	exec "${@:-/bin/bash}"
	;;
*)
	die "unknown role '$ROLE' (scheduler, worker, data-server, generate, client, stage, job, shell)"
	;;
esac
