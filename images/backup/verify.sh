#!/bin/bash
# Prove rensei/backup on plain Docker: a primary (nginx + read-only rsync daemon) at "site A", a
# standby at "site B" pulling every SYNC_INTERVAL s and keeping restic snapshots; data written at
# the primary appears at the standby within two intervals; the promoted standby serves the last
# replicated data (in place, and as a new container on the standby volume); a restic restore into
# a fresh volume is byte-identical (sha256sum).
# Usage: images/backup/verify.sh   (PREFIX=proto-b NET=198.19.251 IMAGE=rensei/backup:latest INTERVAL=5)
set -euo pipefail
PREFIX="${PREFIX:-proto-b}"
NET="${NET:-198.19.251}"
IMAGE="${IMAGE:-rensei/backup:latest}"
INTERVAL="${INTERVAL:-5}"
NETWORK="${PREFIX}-net"
CREATED_NET=0
WORK="$(mktemp -d "/tmp/${PREFIX}-backup.XXXXXX")"
P="${PREFIX}-bk"
CONTAINERS=("$P-primary" "$P-standby" "$P-promoted" "$P-tool")
VOLUMES=("$P-primary-data" "$P-standby-data" "$P-restic" "$P-restore")

cleanup() {
	[ "${KEEP:-0}" = 1 ] && { echo "KEEP=1: leaving $P-*"; return; }
	docker rm -f "${CONTAINERS[@]}" >/dev/null 2>&1 || true
	docker volume rm "${VOLUMES[@]}" >/dev/null 2>&1 || true
	[ "$CREATED_NET" = 1 ] && docker network rm "$NETWORK" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }
LIMITS=(--security-opt no-new-privileges --pids-limit 128 --cpus 1 --memory 256m ${EXTRA_DOCKER_ARGS:-})

if ! docker network inspect "$NETWORK" >/dev/null 2>&1; then
	docker network create --subnet "$NET.0/24" "$NETWORK" >/dev/null
	CREATED_NET=1
fi
for v in "${VOLUMES[@]}"; do docker volume create "$v" >/dev/null; done
head -c 24 /dev/urandom | base64 >"$WORK/rsync.password"
head -c 24 /dev/urandom | base64 >"$WORK/restic.password"

create() { # name ip [docker args...] -- placed secrets are copied before start, as Rensei does
	local n=$1 ip=$2
	shift 2
	docker create --name "$P-$n" --hostname "$n" --network "$NETWORK" --ip "$ip" "${LIMITS[@]}" "$@" >/dev/null
	docker cp "$WORK/rsync.password" "$P-$n:/etc/rensei/rsync.password"
	docker cp "$WORK/restic.password" "$P-$n:/etc/rensei/restic.password"
}
# HTTP GET with bash only (the image has no curl): prints the body
http_get() { # container ip path
	docker exec "$1" bash -c "exec 3<>/dev/tcp/$2/80; printf 'GET $3 HTTP/1.0\r\nHost: x\r\n\r\n' >&3; sed '1,/^\r\$/d' <&3"
}
# sha256 of every file under a directory of a volume (paths relative)
sums() { # volume dir
	docker run --rm --network none -v "$1:/v:ro" --entrypoint bash "$IMAGE" -c \
		"cd /v && find . -type f ! -path './lost+found/*' -print0 | sort -z | xargs -0 sha256sum"
}

echo "== primary at site A ($NET.40): nginx + rsync daemon (read-only), some data"
create primary "$NET.40" -v "$P-primary-data:/srv/data" -e RSYNC_HOSTS_ALLOW="$NET.41 $NET.42" "$IMAGE" primary
docker start "$P-primary" >/dev/null
docker exec "$P-primary" bash -c 'mkdir -p /srv/data/docs /srv/data/bin &&
	echo "<h1>v1</h1>" >/srv/data/index.html &&
	head -c 3000000 /dev/urandom >/srv/data/bin/blob.dat &&
	for i in $(seq 1 50); do echo "doc $i" >/srv/data/docs/doc-$i.txt; done &&
	echo "to be deleted" >/srv/data/old.txt'
for _ in $(seq 1 40); do http_get "$P-primary" "$NET.40" /healthz 2>/dev/null | grep -q ok && break; sleep 0.25; done
echo "primary serves: $(http_get "$P-primary" "$NET.40" /index.html)"

echo "== standby at site B ($NET.41): SYNC_INTERVAL=$INTERVAL, restic every $INTERVAL s"
create standby "$NET.41" -v "$P-standby-data:/srv/data" -v "$P-restic:/srv/restic" \
	-e PRIMARY_ADDR="$NET.40" -e SYNC_INTERVAL="$INTERVAL" -e RESTIC_INTERVAL="$INTERVAL" "$IMAGE" standby
T0=$(now)
docker start "$P-standby" >/dev/null
for _ in $(seq 1 200); do
	docker exec "$P-standby" test -f /srv/data/docs/doc-50.txt 2>/dev/null && break
	sleep 0.1
done
echo "first replicated copy $(since "$T0") s after docker start of the standby"
docker exec "$P-standby" rensei-backup status | sed -n 1,3p

echo "== write at the primary; it must appear at the standby within two intervals ($((2 * INTERVAL)) s)"
T1=$(now)
docker exec "$P-primary" bash -c 'echo "<h1>v2</h1>" >/srv/data/index.html; echo new >/srv/data/new.txt; rm /srv/data/old.txt'
ok=0
for _ in $(seq 1 $((20 * INTERVAL * 2 + 20))); do
	if docker exec "$P-standby" bash -c 'test -f /srv/data/new.txt && ! test -e /srv/data/old.txt && grep -q v2 /srv/data/index.html' 2>/dev/null; then
		ok=1
		break
	fi
	sleep 0.05
done
lag="$(since "$T1")"
echo "change (write + delete) visible at the standby after $lag s"
[ "$ok" = 1 ] || fail "change not replicated"
awk -v l="$lag" -v m="$((2 * INTERVAL))" 'BEGIN{exit !(l <= m)}' || fail "replication took $lag s > $((2 * INTERVAL)) s"

echo "== the rsync daemon: wrong password refused, writes refused"
out="$(docker exec -e RSYNC_PASSWORD=wrong "$P-standby" rsync "rsync://replica@$NET.40/data/" 2>&1 || true)"
echo "wrong password -> $(echo "$out" | head -1)"
echo "$out" | grep -q 'auth failed' || fail "wrong password accepted"
out="$(docker exec "$P-standby" bash -c "RSYNC_PASSWORD=\$(cat /etc/rensei/rsync.password) rsync /etc/hostname rsync://replica@$NET.40/data/x" 2>&1 || true)"
echo "push -> $(echo "$out" | grep -m1 -i 'read only\|error')"
echo "$out" | grep -qi 'read only' || fail "write accepted"

echo "== wait for a restic snapshot of the latest copy, then the primary fails"
sleep $((INTERVAL + 1))
docker exec "$P-standby" rensei-backup status
sums "$P-primary-data" >"$WORK/primary.sums"
docker stop "$P-primary" >/dev/null
echo "primary stopped"

echo "== promote in place: docker exec standby rensei-backup promote"
T2=$(now)
docker exec "$P-standby" rensei-backup promote
body=""
for _ in $(seq 1 100); do body="$(http_get "$P-standby" "$NET.41" /index.html 2>/dev/null)" && [ -n "$body" ] && break; sleep 0.1; done
echo "promoted standby serves after $(since "$T2") s: $body"
[ "$body" = "<h1>v2</h1>" ] || fail "promoted standby does not serve the last data"
[ "$(http_get "$P-standby" "$NET.41" /docs/doc-50.txt)" = "doc 50" ] || fail "doc-50"

echo "== promote by role: a new container with role primary on the standby's volume"
docker stop "$P-standby" >/dev/null
create promoted "$NET.42" -v "$P-standby-data:/srv/data" "$IMAGE" primary
T3=$(now)
docker start "$P-promoted" >/dev/null
body=""
for _ in $(seq 1 100); do body="$(http_get "$P-promoted" "$NET.42" /index.html 2>/dev/null)" && [ -n "$body" ] && break; sleep 0.1; done
echo "role primary on the standby volume serves after $(since "$T3") s: $body"
[ "$body" = "<h1>v2</h1>" ] || fail "promoted container does not serve the last data"
sums "$P-standby-data" >"$WORK/standby.sums"
cmp "$WORK/primary.sums" "$WORK/standby.sums" && echo "standby copy byte-identical to the primary ($(wc -l <"$WORK/primary.sums") files)"

echo "== restic restore of the latest snapshot into a fresh volume"
docker run --rm --name "$P-tool" --network none "${LIMITS[@]}" -v "$P-restic:/srv/restic:ro" \
	-v "$P-restore:/srv/restore" -v "$WORK/restic.password:/etc/rensei/restic.password:ro" \
	-e RESTIC_CACHE_DIR=/tmp/restic-cache "$IMAGE" restore latest
sums "$P-restore" >"$WORK/restore.sums"
head -3 "$WORK/restore.sums"
cmp "$WORK/primary.sums" "$WORK/restore.sums" || { diff "$WORK/primary.sums" "$WORK/restore.sums" | head; fail "restore differs"; }
echo "restore byte-identical to the primary: $(wc -l <"$WORK/restore.sums") files, sha256 of the list $(sha256sum <"$WORK/restore.sums" | cut -c1-16)"
echo "PASS backup"
