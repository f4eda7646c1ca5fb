#!/bin/bash
# rensei-backup ROLE [ARGS...]   (ROLE default: $BACKUP_ROLE)
#   primary   nginx serves DATA_DIR on :80 and an rsync daemon exports it read-only on :873
#   web       nginx only;  rsyncd: the rsync daemon only
#   standby   every SYNC_INTERVAL s: rsync -a --delete from PRIMARY_ADDR into DATA_DIR, then a
#             restic snapshot of DATA_DIR into RESTIC_REPOSITORY (every RESTIC_INTERVAL s).
#             Serves nothing until promoted. "rensei-backup promote" (docker exec) or a
#             restart with role primary on the same volume promotes it.
#   promote   (run inside a standby) stop pulling, serve the last replicated data as primary
#   snapshot  one restic backup of DATA_DIR now
#   restore   restic restore [SNAPSHOT] (default latest) into RESTORE_DIR, files at its top
#   status    last sync and snapshots;   shell: a shell
# Files placed into the container (paths can be changed by the variables in brackets):
#   /etc/rensei/rsync.password   [RSYNC_PASSWORD_FILE] the replication password (both sides)
#                                (or RSYNC_PASSWORD in the environment)
#   /etc/rensei/restic.password  [RESTIC_PASSWORD_FILE] restic repository password (standby,
#                                snapshot, restore; or RESTIC_PASSWORD)
#   /etc/rensei/nginx.conf       [NGINX_CONF] optional, replaces the generated nginx.conf
#   /etc/rensei/hosts            [RENSEI_HOSTS_FILE] optional lines appended to /etc/hosts
# Environment:
#   DATA_DIR (/srv/data)  RESTIC_REPOSITORY (/srv/restic)  RESTORE_DIR (/srv/restore)
#   PRIMARY_ADDR (standby: the primary's static overlay IPv4)  RSYNC_USER (replica)
#   RSYNC_MODULE (data)  RSYNC_HOSTS_ALLOW (primary: e.g. the standby's address; default all)
#   SYNC_INTERVAL (60 s)  RESTIC_INTERVAL (SYNC_INTERVAL; 0 = no restic)  RESTIC_KEEP_LAST (48)
#   WEB_PORT (80)  RSYNC_PORT (873)  SERVE_WHILE_STANDBY (0; 1 = nginx serves the copy read-only)
set -euo pipefail

log() { echo "rensei-backup: $(date -u +%FT%TZ) $*" >&2; }
die() { log "error: $*"; exit 1; }

ROLE="${1:-${BACKUP_ROLE:-shell}}"
[ $# -gt 0 ] && shift

: "${DATA_DIR:=/srv/data}"
: "${RESTIC_REPOSITORY:=/srv/restic}"
: "${RESTORE_DIR:=/srv/restore}"
: "${RSYNC_USER:=replica}"
: "${RSYNC_MODULE:=data}"
: "${RSYNC_PORT:=873}"
: "${RSYNC_PASSWORD_FILE:=/etc/rensei/rsync.password}"
: "${RESTIC_PASSWORD_FILE:=/etc/rensei/restic.password}"
: "${NGINX_CONF:=/etc/rensei/nginx.conf}"
: "${RENSEI_HOSTS_FILE:=/etc/rensei/hosts}"
: "${WEB_PORT:=80}"
: "${SYNC_INTERVAL:=60}"
: "${RESTIC_INTERVAL:=$SYNC_INTERVAL}"
: "${RESTIC_KEEP_LAST:=48}"
export RESTIC_REPOSITORY RESTIC_CACHE_DIR="${RESTIC_CACHE_DIR:-/var/cache/restic}"
STATE=/var/lib/rensei-backup
RUN=/run/rensei-backup
mkdir -p "$STATE" "$RUN"

add_hosts() {
	[ -r "$RENSEI_HOSTS_FILE" ] || return 0
	local line
	while IFS= read -r line || [ -n "$line" ]; do
		case "$line" in ''|'#'*) continue ;; esac
		grep -qxF "$line" /etc/hosts 2>/dev/null || printf '%s\n' "$line" >>/etc/hosts || true
	done <"$RENSEI_HOSTS_FILE"
}

rsync_password() { # prints the password
	if [ -n "${RSYNC_PASSWORD:-}" ]; then printf '%s' "$RSYNC_PASSWORD"
	elif [ -r "$RSYNC_PASSWORD_FILE" ]; then head -n1 "$RSYNC_PASSWORD_FILE" | tr -d '\r\n'
	else die "no rsync password: place $RSYNC_PASSWORD_FILE or set RSYNC_PASSWORD"; fi
}

restic_password_setup() {
	if [ -n "${RESTIC_PASSWORD:-}" ]; then export RESTIC_PASSWORD; return; fi
	[ -r "$RESTIC_PASSWORD_FILE" ] || die "no restic password: place $RESTIC_PASSWORD_FILE or set RESTIC_PASSWORD"
	export RESTIC_PASSWORD_FILE
}

nginx_conf() {
	if [ -r "$NGINX_CONF" ]; then cp "$NGINX_CONF" "$RUN/nginx.conf"; return; fi
	cat >"$RUN/nginx.conf" <<EOF
user www-data;
worker_processes 1;
pid $RUN/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    sendfile on;
    server {
        listen $WEB_PORT;
        root $DATA_DIR;
        autoindex on;
        location = /healthz { return 200 "ok\n"; }
    }
}
EOF
}

rsyncd_conf() {
	umask 077
	printf '%s:%s\n' "$RSYNC_USER" "$(rsync_password)" >"$RUN/rsyncd.secrets"
	cat >"$RUN/rsyncd.conf" <<EOF
pid file = $RUN/rsyncd.pid
port = $RSYNC_PORT
use chroot = yes
numeric ids = yes
reverse lookup = no
max connections = 8
[$RSYNC_MODULE]
    path = $DATA_DIR
    comment = rensei replicated data (read-only)
    read only = yes
    list = yes
    uid = root
    gid = root
    auth users = $RSYNC_USER
    secrets file = $RUN/rsyncd.secrets
    strict modes = yes
    hosts allow = ${RSYNC_HOSTS_ALLOW:-*}
    exclude = lost+found/
EOF
	umask 022
}

# Run the given services (nginx, rsyncd) in the foreground; exit when any of them exits.
serve() {
	local pids=() s
	for s in "$@"; do
		case "$s" in
		nginx)
			nginx_conf
			nginx -t -q -c "$RUN/nginx.conf"
			nginx -c "$RUN/nginx.conf" -g 'daemon off;' &
			pids+=($!)
			log "nginx serving $DATA_DIR on :$WEB_PORT"
			;;
		rsyncd)
			rsyncd_conf
			rsync --daemon --no-detach --log-file=/dev/stderr --config="$RUN/rsyncd.conf" &
			pids+=($!)
			log "rsync daemon exporting $DATA_DIR read-only as rsync://$RSYNC_USER@<addr>:$RSYNC_PORT/$RSYNC_MODULE/"
			;;
		esac
	done
	trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait; exit 0' TERM INT
	wait -n "${pids[@]}" || true
	log "a service exited; stopping"
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait || true
	exit 1
}

restic_ensure_repo() {
	restic_password_setup
	mkdir -p "$RESTIC_REPOSITORY" "$RESTIC_CACHE_DIR"
	if ! restic cat config >/dev/null 2>&1; then
		restic init >&2 && log "initialized restic repository $RESTIC_REPOSITORY"
	fi
}

snapshot() {
	# back up the contents of DATA_DIR with paths relative to it (restore puts them at the top)
	(cd "$DATA_DIR" && restic backup --quiet --host rensei-backup --tag rensei . >&2)
	date -u +%FT%TZ >"$STATE/last-snapshot"
	restic forget --quiet --keep-last "$RESTIC_KEEP_LAST" --prune >/dev/null 2>&1 || true
}

standby() {
	[ -n "${PRIMARY_ADDR:-}" ] || die "PRIMARY_ADDR (the primary's IPv4 address) is required"
	local src="rsync://$RSYNC_USER@$PRIMARY_ADDR:$RSYNC_PORT/$RSYNC_MODULE/"
	umask 077
	rsync_password >"$RUN/rsync.password"
	umask 022
	mkdir -p "$DATA_DIR"
	# fail early on a missing restic password; the repository is opened after the first sync
	[ "$RESTIC_INTERVAL" != 0 ] && restic_password_setup
	if [ "${SERVE_WHILE_STANDBY:-0}" = 1 ]; then
		nginx_conf
		nginx -c "$RUN/nginx.conf" -g 'daemon off;' &
		echo $! >"$RUN/standby-nginx.pid"
	fi
	trap 'exit 0' TERM INT
	log "standby: pulling $src into $DATA_DIR every ${SYNC_INTERVAL}s (restic every ${RESTIC_INTERVAL}s)"
	local last_restic=0 t cycle_start left
	while :; do
		if [ -e "$RUN/promote" ]; then
			log "promoted: serving the last replicated data (synced $(cat "$STATE/last-sync" 2>/dev/null || echo never))"
			[ -r "$RUN/standby-nginx.pid" ] && kill "$(cat "$RUN/standby-nginx.pid")" 2>/dev/null && sleep 0.2
			trap - TERM INT
			serve nginx rsyncd
		fi
		cycle_start=${EPOCHREALTIME/./}
		if rsync -a --delete --delay-updates --numeric-ids --timeout=60 --contimeout=10 \
			--password-file="$RUN/rsync.password" "$src" "$DATA_DIR/"; then
			date -u +%FT%TZ >"$STATE/last-sync"
			t=$(date +%s)
			if [ "$RESTIC_INTERVAL" != 0 ] && [ $((t - last_restic)) -ge "$RESTIC_INTERVAL" ]; then
				if { [ "$last_restic" != 0 ] || restic_ensure_repo; } && snapshot; then
					last_restic=$t
				else
					log "restic backup failed"
				fi
			fi
		else
			log "sync from $src failed (rc=$?); keeping the last copy"
		fi
		# one sync every SYNC_INTERVAL s (start to start), whatever the sync and snapshot took
		left=$(( SYNC_INTERVAL * 1000000 - (${EPOCHREALTIME/./} - cycle_start) ))
		[ "$left" -gt 100000 ] || left=100000
		sleep "$((left / 1000000)).$(printf '%06d' $((left % 1000000)))" &
		echo $! >"$RUN/sleep.pid"
		wait $! || true
	done
}

add_hosts
case "$ROLE" in
primary) mkdir -p "$DATA_DIR"; serve nginx rsyncd ;;
web) serve nginx ;;
rsyncd) serve rsyncd ;;
standby) standby ;;
promote)
	touch "$RUN/promote"
	# wake the sync loop if it sleeps
	[ -r "$RUN/sleep.pid" ] && kill "$(cat "$RUN/sleep.pid")" 2>/dev/null || true
	log "promotion requested"
	;;
snapshot) restic_ensure_repo; snapshot; restic snapshots --compact ;;
restore)
	restic_password_setup
	mkdir -p "$RESTORE_DIR"
	lock=()
	# a repository mounted read-only cannot take restic's lock
	case "$RESTIC_REPOSITORY" in /*) touch "$RESTIC_REPOSITORY/.rw-test" 2>/dev/null &&
		rm -f "$RESTIC_REPOSITORY/.rw-test" || lock=(--no-lock) ;; esac
	restic "${lock[@]}" restore "${1:-latest}" --target "$RESTORE_DIR"
	log "restored ${1:-latest} into $RESTORE_DIR"
	;;
status)
	echo "last-sync: $(cat "$STATE/last-sync" 2>/dev/null || echo never)"
	echo "last-snapshot: $(cat "$STATE/last-snapshot" 2>/dev/null || echo never)"
	echo "promoted: $([ -e "$RUN/promote" ] && echo yes || echo no)"
	if [ -n "${RESTIC_PASSWORD:-}" ] || [ -r "$RESTIC_PASSWORD_FILE" ]; then
		restic_password_setup
		restic snapshots --compact 2>/dev/null || true
	fi
	;;
shell) exec "${@:-/bin/bash}" ;;
*) die "unknown role '$ROLE' (primary, web, rsyncd, standby, promote, snapshot, restore, status, shell)" ;;
esac
