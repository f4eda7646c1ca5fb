#!/bin/bash
# rensei-backup ROLE [ARGS...]   (ROLE default: $BACKUP_ROLE)
#   primary   nginx serves DATA_DIR on :80 and an rsync daemon exports it read-only on :873
#   web       nginx only;  rsyncd: the rsync daemon only
#   standby   every SYNC_INTERVAL s: rsync -a --delete from PRIMARY_ADDR into DATA_DIR, then a
#             restic snapshot of DATA_DIR into RESTIC_REPOSITORY (every RESTIC_INTERVAL s).
#             Serves no data until promoted; its rsync daemon exports the restic repository
#             read-only (module "restic") for restores at other sites (EXPORT_RESTIC=0: off).
#             "rensei-backup promote" (docker exec) or a restart with role primary on the
#             same volume promotes it.
#   promote   (run inside a standby) stop pulling, serve the last replicated data as primary
#   snapshot  one restic backup of DATA_DIR now
#   restore   restic restore [SNAPSHOT] (default latest) into RESTORE_DIR, files at its top.
#             RESTIC_FROM=ADDR: first copy the repository from the rsync daemon at ADDR
#             (module "restic"), so a restore can run at another site than the backup.
#             RESTORE_THEN=idle: a restore drill that stays up (a declared container is
#             started again when it exits): retry until a snapshot exists, restore once
#             (never into a non-empty RESTORE_DIR), write the checksums to
#             $(dirname RESTORE_DIR)/restore.sha256, then idle.
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
#   EXPORT_RESTIC (1: the rsync daemon of primary and standby also exports RESTIC_REPOSITORY
#   read-only as module "restic")  RESTIC_FROM (restore: copy the repository from this
#   address first)  RESTORE_THEN (exit | idle)  RESTORE_RETRY (idle: seconds between tries, 5)
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
	if [ "${EXPORT_RESTIC:-1}" = 1 ] && [ -d "$RESTIC_REPOSITORY" ]; then
		# The backup's restic repository, for a restore at another site (role restore with
		# RESTIC_FROM). restic encrypts it: its password is not needed to copy it.
		cat >>"$RUN/rsyncd.conf" <<EOF
[restic]
    path = $RESTIC_REPOSITORY
    comment = rensei restic repository (read-only)
    read only = yes
    list = yes
    uid = root
    gid = root
    auth users = $RSYNC_USER
    secrets file = $RUN/rsyncd.secrets
    strict modes = yes
    hosts allow = ${RSYNC_RESTORE_HOSTS_ALLOW:-*}
EOF
	fi
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

kill_standby_daemons() {
	local f pid
	for f in "$RUN/standby-nginx.pid" "$RUN/standby-rsyncd.pid"; do
		[ -r "$f" ] || continue
		pid="$(cat "$f")"
		rm -f "$f"
		kill "$pid" 2>/dev/null || continue
		# the port must be free before the primary role binds it
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	done
}

# restore_once [SNAPSHOT]: copy the repository from RESTIC_FROM when set, then restic restore
# into RESTORE_DIR. Non-zero when there is nothing to restore (yet).
restore_once() {
	restic_password_setup
	mkdir -p "$RESTORE_DIR"
	local lock=()
	if [ -n "${RESTIC_FROM:-}" ]; then
		local copy="$STATE/restic-copy"
		umask 077
		rsync_password >"$RUN/rsync.password"
		umask 022
		mkdir -p "$copy"
		rsync -a --delete --modify-window=-1 --numeric-ids --timeout=60 --contimeout=10 \
			--password-file="$RUN/rsync.password" \
			"rsync://$RSYNC_USER@$RESTIC_FROM:$RSYNC_PORT/restic/" "$copy/" || return 1
		export RESTIC_REPOSITORY="$copy"
		log "copied the restic repository from $RESTIC_FROM ($(du -sh "$copy" | cut -f1))"
	fi
	# a repository mounted read-only cannot take restic's lock
	case "$RESTIC_REPOSITORY" in /*) touch "$RESTIC_REPOSITORY/.rw-test" 2>/dev/null &&
		rm -f "$RESTIC_REPOSITORY/.rw-test" || lock=(--no-lock) ;; esac
	restic "${lock[@]}" restore "${1:-latest}" --target "$RESTORE_DIR" || return 1
	log "restored ${1:-latest} into $RESTORE_DIR"
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
	if [ "${EXPORT_RESTIC:-1}" = 1 ] && [ "$RESTIC_INTERVAL" != 0 ]; then
		# the restic repository, read-only, for restores at other sites
		mkdir -p "$RESTIC_REPOSITORY"
		rsyncd_conf
		rsync --daemon --no-detach --log-file=/dev/stderr --config="$RUN/rsyncd.conf" &
		echo $! >"$RUN/standby-rsyncd.pid"
		log "rsync daemon exporting $RESTIC_REPOSITORY read-only as module restic"
	fi
	trap 'kill_standby_daemons; exit 0' TERM INT
	log "standby: pulling $src into $DATA_DIR every ${SYNC_INTERVAL}s (restic every ${RESTIC_INTERVAL}s)"
	local last_restic=0 t cycle_start left
	while :; do
		if [ -e "$RUN/promote" ]; then
			log "promoted: serving the last replicated data (synced $(cat "$STATE/last-sync" 2>/dev/null || echo never))"
			kill_standby_daemons
			trap - TERM INT
			serve nginx rsyncd
		fi
		cycle_start=${EPOCHREALTIME/./}
		# --modify-window=-1: compare modification times to the nanosecond. rsync's quick check
		# otherwise compares whole seconds, and a change of a file's content that keeps its size,
		# made in the same second as the copy before, is never sent (found by the lab test).
		if rsync -a --delete --delay-updates --modify-window=-1 --numeric-ids --timeout=60 --contimeout=10 \
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
	if [ "${RESTORE_THEN:-exit}" != idle ]; then
		restore_once "${1:-latest}" || die "restore of ${1:-latest} failed"
		exit 0
	fi
	# A restore drill that stays up: restore once into an empty RESTORE_DIR, record the
	# checksums, then idle (a restart finds the files and does not restore again).
	trap 'exit 0' TERM INT
	mkdir -p "$RESTORE_DIR"
	sums="$(dirname "$RESTORE_DIR")/restore.sha256"
	if [ -n "$(ls -A "$RESTORE_DIR" 2>/dev/null | grep -v '^lost+found$')" ]; then
		log "$RESTORE_DIR is not empty: restored before, not again"
	else
		until restore_once "${1:-latest}"; do
			log "nothing to restore yet; again in ${RESTORE_RETRY:-5}s"
			sleep "${RESTORE_RETRY:-5}" &
			wait $! || true
		done
		(cd "$RESTORE_DIR" && find . -type f ! -path './lost+found/*' -print0 | sort -z |
			xargs -0 -r sha256sum) >"$sums.tmp" && mv "$sums.tmp" "$sums"
		log "restore complete: $(wc -l <"$sums") files, checksums in $sums"
	fi
	sleep infinity &
	wait $!
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
