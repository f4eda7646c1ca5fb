#!/bin/bash
# rensei-slurm-entrypoint ROLE [ARGS...]
#   ROLE: controller | compute | login | shell (default: $SLURM_ROLE, else login)
# Configuration comes only from placed files and environment variables (see README.md):
#   MUNGE_KEY_FILE   (default /etc/rensei/munge.key)  placed secret; or MUNGE_KEY_BASE64 (env)
#   SLURM_CONF       (default /etc/slurm/slurm.conf)  placed slurm.conf (controller, login; compute
#                    unless SLURM_CONF_SERVER is set)
#   SLURM_CONF_SERVER  compute, login: "ADDR:6817" of slurmctld, configless mode: slurmd fetches
#                    slurm.conf from the controller (no slurm.conf placed on these nodes); on a
#                    login node slurmd only keeps the config fresh (the node is in no partition)
#   SLURM_NODENAME   compute, login: node name in slurm.conf (default: short host name)
#   SLURM_RECONFIGURE_ON_START (default 1) controller: "scontrol reconfigure" once it answers
#   RENSEI_HOSTS_FILE (default /etc/rensei/hosts) lines appended to /etc/hosts at start
#   RENSEI_USERS_FILE (default /etc/rensei/users) lines "name:uid[:gid]" created at start
#   SLURM_DEBUG      e.g. "-vv": extra verbosity for slurmctld/slurmd
#   SLURMD_OPTIONS / SLURMCTLD_OPTIONS: extra daemon options
set -euo pipefail

log() { echo "rensei-slurm: $*" >&2; }
die() { log "error: $*"; exit 1; }

ROLE="${1:-${SLURM_ROLE:-login}}"
[ $# -gt 0 ] && shift

: "${MUNGE_KEY_FILE:=/etc/rensei/munge.key}"
: "${SLURM_CONF:=/etc/slurm/slurm.conf}"
: "${RENSEI_HOSTS_FILE:=/etc/rensei/hosts}"
: "${RENSEI_USERS_FILE:=/etc/rensei/users}"
: "${SLURM_DEBUG:=}"
export SLURM_CONF

# Static name -> address entries: across sites Docker's DNS does not answer, so the deployment
# renders them and they are appended here (Docker owns /etc/hosts, so it cannot be placed directly).
add_hosts() {
	[ -r "$RENSEI_HOSTS_FILE" ] || return 0
	local line
	while IFS= read -r line || [ -n "$line" ]; do
		case "$line" in ''|'#'*) continue ;; esac
		grep -qxF "$line" /etc/hosts 2>/dev/null || printf '%s\n' "$line" >>/etc/hosts || true
	done <"$RENSEI_HOSTS_FILE"
}

# The key must be owned by munge, mode 0400, or munged refuses to start.
install_munge_key() {
	install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
	install -d -o munge -g munge -m 0755 /run/munge
	if [ -n "${MUNGE_KEY_BASE64:-}" ]; then
		printf '%s' "$MUNGE_KEY_BASE64" | base64 -d >/etc/munge/munge.key
	elif [ -r "$MUNGE_KEY_FILE" ]; then
		cat "$MUNGE_KEY_FILE" >/etc/munge/munge.key
	else
		die "no munge key: place it at $MUNGE_KEY_FILE or set MUNGE_KEY_BASE64"
	fi
	[ "$(stat -c %s /etc/munge/munge.key)" -ge 32 ] || die "munge key shorter than 32 bytes"
	chown munge:munge /etc/munge/munge.key
	chmod 0400 /etc/munge/munge.key
}

start_munged() {
	rm -f /run/munge/munged.pid
	setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --num-threads=4
	local i
	for i in $(seq 1 50); do
		[ -S /run/munge/munge.socket.2 ] && munge -n </dev/null | unmunge >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat /var/log/munge/munged.log >&2 || true
	die "munged did not start"
}

need_conf() {
	[ -r "$SLURM_CONF" ] || die "no slurm.conf at $SLURM_CONF (place it there or set SLURM_CONF)"
}

# Extra users, identical on every node (Slurm runs steps by uid): lines "name:uid[:gid]".
add_users() {
	[ -r "$RENSEI_USERS_FILE" ] || return 0
	local name uid gid
	while IFS=: read -r name uid gid _ || [ -n "$name" ]; do
		case "$name" in ''|'#'*) continue ;; esac
		gid="${gid:-$uid}"
		getent group "$gid" >/dev/null || groupadd -g "$gid" "$name"
		id -u "$name" >/dev/null 2>&1 || useradd -M -d "/home/$name" -u "$uid" -g "$gid" -s /bin/bash "$name"
		[ -d "/home/$name" ] || install -d -o "$uid" -g "$gid" -m 0750 "/home/$name"
	done <"$RENSEI_USERS_FILE"
}

add_hosts
add_users
install_munge_key
start_munged

case "$ROLE" in
controller)
	need_conf
	for d in /var/spool/slurmctld /var/log/slurm; do install -d -o slurm -g slurm -m 0755 "$d"; done
	# state in /var/spool/slurmctld (StateSaveLocation): keep it on a volume so a replaced
	# controller recovers running jobs.
	if [ "${SLURM_RECONFIGURE_ON_START:-1}" = 1 ]; then
		# Slurm 22.05 must restart slurmctld to add or remove nodes; the configless slurmds
		# keep their old node table until told, so push the new slurm.conf to them once the
		# controller answers. Double fork: the helper is reaped by tini, not slurmctld.
		( (
			for _ in $(seq 1 120); do
				if scontrol ping 2>/dev/null | grep -q 'is UP'; then
					sleep "${SLURM_RECONFIGURE_DELAY:-2}"
					scontrol reconfigure && log "pushed slurm.conf to slurmds (scontrol reconfigure)"
					exit 0
				fi
				sleep 1
			done
		) & )
	fi
	log "starting slurmctld as $(hostname -s)"
	# shellcheck disable=SC2086
	exec /usr/sbin/slurmctld -D $SLURM_DEBUG ${SLURMCTLD_OPTIONS:-} "$@"
	;;
compute|login)
	NODE="${SLURM_NODENAME:-$(hostname -s)}"
	install -d -m 0755 /var/spool/slurmd
	args=(-D -N "$NODE")
	if [ -n "${SLURM_CONF_SERVER:-}" ]; then
		# configless: slurmd fetches slurm.conf from slurmctld, caches it in
		# /var/spool/slurmd/conf-cache (linked from /run/slurm/conf, where client commands
		# find it) and gets every "scontrol reconfigure" pushed to it.
		args+=(--conf-server "$SLURM_CONF_SERVER")
		unset SLURM_CONF
		log "starting slurmd $NODE as $ROLE (configless from $SLURM_CONF_SERVER)"
	else
		need_conf
		if [ "$ROLE" = login ]; then
			# login without slurmd: the placed slurm.conf is used by the client commands.
			log "login node ready (slurm.conf at $SLURM_CONF)"
			trap 'exit 0' TERM INT
			sleep infinity &
			wait $!
			exit 0
		fi
		log "starting slurmd $NODE (slurm.conf at $SLURM_CONF)"
	fi
	# shellcheck disable=SC2086
	exec /usr/sbin/slurmd "${args[@]}" $SLURM_DEBUG ${SLURMD_OPTIONS:-} "$@"
	;;
shell)
	exec "${@:-/bin/bash}"
	;;
*)
	die "unknown role '$ROLE' (controller, compute, login, shell)"
	;;
esac
