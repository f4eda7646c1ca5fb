#!/bin/bash
# Prove rensei/dask on plain Docker: a "data site" A (scheduler, read-only HTTP data-server,
# worker a1 with the data volume) and a "compute site" B (workers b1, b2 without the data),
# static addresses on one bridge network as on a Rensei overlay. Then the aggregate client in
# both modes must return the exact expected sums with tasks run at both sites.
# Also shows which address a worker with a second network (holding its default route) advertises
# without and with DASK_HOST (--host).
# Usage: images/dask/verify.sh   (PREFIX=proto-b NET=198.19.251 SIDE=198.19.252 IMAGE=rensei/dask:latest)
set -euo pipefail
PREFIX="${PREFIX:-proto-b}"
NET="${NET:-198.19.251}"
SIDE="${SIDE:-198.19.252}"
IMAGE="${IMAGE:-rensei/dask:latest}"
NETWORK="${PREFIX}-net"
SIDENET="${PREFIX}-aside"   # sorts before -net: Docker takes the default route from it
CREATED_NET=0
WORK="$(mktemp -d "/tmp/${PREFIX}-dask.XXXXXX")"
C=("${PREFIX}-dask-sched" "${PREFIX}-dask-data" "${PREFIX}-dask-a1" "${PREFIX}-dask-b1" "${PREFIX}-dask-b2"
	"${PREFIX}-dask-client" "${PREFIX}-dask-bad" "${PREFIX}-dask-gen")

cleanup() {
	[ "${KEEP:-0}" = 1 ] && { echo "KEEP=1: leaving ${PREFIX}-dask-*"; return; }
	docker rm -f "${C[@]}" >/dev/null 2>&1 || true
	docker volume rm "${PREFIX}-dask-data" >/dev/null 2>&1 || true
	docker network rm "$SIDENET" >/dev/null 2>&1 || true
	[ "$CREATED_NET" = 1 ] && docker network rm "$NETWORK" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }
LIMITS=(--security-opt no-new-privileges --pids-limit 256 --cpus 1 --memory 768m ${EXTRA_DOCKER_ARGS:-})
SCHED="tcp://$NET.30:8786"

if ! docker network inspect "$NETWORK" >/dev/null 2>&1; then
	docker network create --subnet "$NET.0/24" "$NETWORK" >/dev/null
	CREATED_NET=1
fi
docker volume create "${PREFIX}-dask-data" >/dev/null

echo "== generate the data set at site A (16 files x 100000 int64)"
docker run --name "${PREFIX}-dask-gen" "${LIMITS[@]}" --network none \
	-v "${PREFIX}-dask-data:/data" "$IMAGE" generate --files 16 --rows 100000
docker rm "${PREFIX}-dask-gen" >/dev/null

run() { # name ip site [docker args...] -- role
	local n=$1 ip=$2 site=$3
	shift 3
	docker run -d --name "${PREFIX}-dask-$n" --hostname "$n" --network "$NETWORK" --ip "$ip" "${LIMITS[@]}" \
		-e RENSEI_SITE="$site" -e DASK_HOST="$ip" -e DASK_MEMORY_LIMIT=700MiB "$@" >/dev/null
}
T0=$(now)
run sched "$NET.30" A "$IMAGE" scheduler
run data "$NET.31" A -v "${PREFIX}-dask-data:/data:ro" "$IMAGE" data-server
run a1 "$NET.32" A -v "${PREFIX}-dask-data:/data:ro" -e DASK_SCHEDULER_ADDRESS="$SCHED" \
	-e DASK_RESOURCES="DATA=1" "$IMAGE" worker
for i in 1 2; do
	run "b$i" "$NET.3$((2 + i))" B -e DASK_SCHEDULER_ADDRESS="$SCHED" -e DASK_RESOURCES="COMPUTE=1" \
		"$IMAGE" worker
done
client() { # mode [args]
	docker run --rm --name "${PREFIX}-dask-client" --network "$NETWORK" --ip "$NET.35" "${LIMITS[@]}" \
		-e DASK_SCHEDULER_ADDRESS="$SCHED" -e DATA_URL="http://$NET.31:8000" "$IMAGE" \
		client --min-workers 3 --mode "$@"
}

echo "== pinned mode: load tasks on the DATA worker (site A), stats on COMPUTE workers (site B)"
client pinned >"$WORK/pinned.json" || { cat "$WORK/pinned.json"; fail "pinned"; }
echo "first computation done $(since "$T0") s after the first docker run"
cat "$WORK/pinned.json"
python3 - "$WORK/pinned.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] and r["result"]["sum"] == "1279999200000", r["result"]
w = r["workers"]
site = lambda t: w[r["tasks"][t]]["site"]
assert all(site(t) == "A" for t in r["tasks"] if t.startswith("load-")), "load tasks must run at A"
assert all(site(t) == "B" for t in r["tasks"] if t.startswith("stats-")), "stats tasks must run at B"
assert set(r["tasks_per_site"]) == {"A", "B"}, r["tasks_per_site"]
assert {"b1", "b2"} <= set(r["tasks_per_worker"]), r["tasks_per_worker"]
print("pinned: OK sum=%s tasks_per_site=%s tasks_per_worker=%s" % (r["result"]["sum"], r["tasks_per_site"], r["tasks_per_worker"]))
EOF

echo "== health endpoints and listening sockets"
docker exec "${PREFIX}-dask-sched" python3 -c "
import urllib.request
for u in ['http://$NET.30:8787/health', 'http://$NET.32:8787/health', 'http://$NET.33:8787/health']:
    print(u, urllib.request.urlopen(u, timeout=5).read().decode())"
for n in sched a1 data; do echo "$n listens on: $(docker exec "${PREFIX}-dask-$n" ss -Hltn | awk '{print $4}' | grep -v 127.0.0.11 | sort | tr '\n' ' ')"; done

echo "== http mode: every worker fetches from the read-only data-server"
client http >"$WORK/http.json" || { cat "$WORK/http.json"; fail "http"; }
python3 - "$WORK/http.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] and r["result"]["sum"] == "1279999200000", r["result"]
assert set(r["tasks_per_site"]) == {"A", "B"}, r["tasks_per_site"]
print("http: OK sum=%s sumsq=%s tasks_per_site=%s tasks_per_worker=%s" % (r["result"]["sum"], r["result"]["sumsq"], r["tasks_per_site"], r["tasks_per_worker"]))
EOF
echo "== the data-server is read-only"
code="$(docker exec "${PREFIX}-dask-sched" python3 -c "
import urllib.request, urllib.error
req = urllib.request.Request('http://$NET.31:8000/x', data=b'x', method='PUT')
try: urllib.request.urlopen(req)
except urllib.error.HTTPError as e: print(e.code)")"
echo "PUT -> HTTP $code"
[ "$code" = 501 ] || fail "data-server accepted a write"

echo "== a worker with a second network that holds its default route, without and with DASK_HOST"
docker network create --subnet "$SIDE.0/24" "$SIDENET" >/dev/null
for variant in nohost host; do
	docker rm -f "${PREFIX}-dask-bad" >/dev/null 2>&1 || true
	env=(-e DASK_SCHEDULER_ADDRESS="$SCHED" -e RENSEI_SITE=B -e DASK_RESOURCES=COMPUTE=1 -e DASK_WORKER_NAME="bad-$variant")
	[ "$variant" = host ] && env+=(-e DASK_HOST="$NET.36")
	docker create --name "${PREFIX}-dask-bad" --hostname bad --network "$SIDENET" --ip "$SIDE.36" "${LIMITS[@]}" \
		"${env[@]}" "$IMAGE" worker >/dev/null
	docker network connect --ip "$NET.36" "$NETWORK" "${PREFIX}-dask-bad"
	docker start "${PREFIX}-dask-bad" >/dev/null
	addr=""
	for _ in $(seq 1 60); do
		addr="$(docker exec "${PREFIX}-dask-sched" python3 -c "
from distributed import Client
c = Client('$SCHED', timeout=10)
print(' '.join(a for a, w in c.scheduler_info()['workers'].items() if w['name'] == 'bad-$variant'))" 2>/dev/null)" || true
		[ -n "$addr" ] && break
		sleep 0.5
	done
	echo "worker bad-$variant ($([ "$variant" = host ] && echo "DASK_HOST=$NET.36" || echo "no DASK_HOST")) advertises: $addr"
	echo "  default route: $(docker exec "${PREFIX}-dask-bad" ip -4 route show default)"
	echo "  listening: $(docker exec "${PREFIX}-dask-bad" ss -Hltn | awk '{print $4}' | sort | tr '\n' ' ')"
	[ "$addr" = "tcp://$NET.36:9000" ] || fail "worker bad-$variant advertises $addr"
done
docker rm -f "${PREFIX}-dask-bad" >/dev/null
echo "PASS dask"
