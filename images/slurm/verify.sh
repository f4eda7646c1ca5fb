#!/bin/bash
# Prove rensei/slurm on plain Docker: controller, 3 compute nodes, a login node on one bridge
# network with static addresses (as Rensei places them on an overlay), files placed with
# "docker cp" before start (as Rensei does). Then: srun, MPI over pmix, sbatch into a shared
# directory, adding a 4th node by replacing the controller while a job keeps running.
# Usage: images/slurm/verify.sh
#   env: PREFIX=proto-b NET=198.19.251 IMAGE=rensei/slurm:latest COMPUTE_IMAGE=$IMAGE KEEP=0
#        EXTRA_DOCKER_ARGS="--cap-drop ALL --cap-add ..." (added to every docker create)
set -euo pipefail
PREFIX="${PREFIX:-proto-b}"
NET="${NET:-198.19.251}"
IMAGE="${IMAGE:-rensei/slurm:latest}"
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="$(mktemp -d "/tmp/${PREFIX}-slurm.XXXXXX")"
NETWORK="${PREFIX}-net"
CREATED_NET=0

cleanup() {
	[ "${KEEP:-0}" = 1 ] && { echo "KEEP=1: leaving ${PREFIX}-slurm-* and $WORK"; return; }
	docker rm -f "${PREFIX}-slurm-ctl" "${PREFIX}-slurm-login" "${PREFIX}-slurm-c1" "${PREFIX}-slurm-c2" \
		"${PREFIX}-slurm-c3" "${PREFIX}-slurm-c4" >/dev/null 2>&1 || true
	docker volume rm "${PREFIX}-slurm-home" "${PREFIX}-slurm-state" >/dev/null 2>&1 || true
	[ "$CREATED_NET" = 1 ] && docker network rm "$NETWORK" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }

if ! docker network inspect "$NETWORK" >/dev/null 2>&1; then
	docker network create --subnet "$NET.0/24" "$NETWORK" >/dev/null
	CREATED_NET=1
fi
docker volume create "${PREFIX}-slurm-home" >/dev/null
docker volume create "${PREFIX}-slurm-state" >/dev/null

# --- rendered files (what a Jsonnet library would render) -----------------------------------
head -c 1024 /dev/urandom >"$WORK/munge.key"
render_conf() { # compute node names...
	sed -e "s/198\.19\.251\./$NET./g" -e '/^NodeName=/d' -e '/^PartitionName=/d' \
		"$HERE/slurm.conf.example"
	local i=0 n parts=""
	for n in "$@"; do
		i=$((i + 1))
		echo "NodeName=$n NodeAddr=$NET.1$i CPUs=1 RealMemory=512 State=UNKNOWN"
		parts="${parts:+$parts,}$n"
	done
	echo "NodeName=login NodeAddr=$NET.20 CPUs=1 RealMemory=512 State=UNKNOWN"
	echo "PartitionName=batch Nodes=$parts Default=YES MaxTime=INFINITE State=UP"
}
render_conf c1 c2 c3 >"$WORK/slurm.conf"
printf '%s\n' "$NET.10 ctl" "$NET.11 c1" "$NET.12 c2" "$NET.13 c3" "$NET.14 c4" "$NET.20 login" >"$WORK/hosts"

run_node() { # name ip role conf-file-or-empty [docker args...]
	local n=$1 ip=$2 role=$3 conf=$4 img="$IMAGE"
	[ "$role" = compute ] && img="${COMPUTE_IMAGE:-$IMAGE}"
	shift 4
	docker create --name "${PREFIX}-slurm-$n" --hostname "$n" --network "$NETWORK" --ip "$ip" \
		--security-opt no-new-privileges --pids-limit 512 --cpus 1 --memory 512m \
		-v "${PREFIX}-slurm-home:/home" ${EXTRA_DOCKER_ARGS:-} "$@" "$img" "$role" >/dev/null
	docker cp "$WORK/munge.key" "${PREFIX}-slurm-$n:/etc/rensei/munge.key"
	docker cp "$WORK/hosts" "${PREFIX}-slurm-$n:/etc/rensei/hosts"
	[ -z "$conf" ] || docker cp "$conf" "${PREFIX}-slurm-$n:/etc/slurm/slurm.conf"
	docker start "${PREFIX}-slurm-$n" >/dev/null
}
login() { docker exec -u hpc -w /home/hpc "${PREFIX}-slurm-login" "$@"; }
CONFSRV=(-e "SLURM_CONF_SERVER=$NET.10:6817")

echo "== start controller, c1..c3 (configless), login (configless)"
T0=$(now)
run_node ctl "$NET.10" controller "$WORK/slurm.conf" -v "${PREFIX}-slurm-state:/var/spool/slurmctld"
for i in 1 2 3; do run_node "c$i" "$NET.1$i" compute "" "${CONFSRV[@]}"; done
run_node login "$NET.20" login "" "${CONFSRV[@]}"
out=""
deadline=$((SECONDS + 120))
while [ $SECONDS -lt $deadline ]; do
	out="$(login timeout 10 srun -N 3 hostname 2>/dev/null | sort | tr '\n' ' ')" && [ -n "$out" ] && break
	sleep 0.5
done
echo "srun -N 3 hostname -> $out (first srun $(since "$T0") s after the first docker start)"
[ "$out" = "c1 c2 c3 " ] || fail "srun -N 3 hostname"

echo "== srun --mpi=list"
login srun --mpi=list 2>&1
echo "== MPI over pmix on 3 nodes"
out="$(login timeout 60 srun -N 3 -n 3 --mpi=pmix /usr/local/bin/mpi-ring)"
echo "$out"
[ "$out" = "mpi-ring size=3 ring=3 allreduce=6 expected=6 hosts=c1,c2,c3 result=OK" ] || fail "mpi pmix"

echo "== sbatch writing into the shared /home"
cat >"$WORK/job.sh" <<'EOF'
#!/bin/bash
#SBATCH -N 3
#SBATCH -n 3
#SBATCH -o /home/hpc/job-%j.out
echo "job $SLURM_JOB_ID nodes $SLURM_JOB_NODELIST"
srun hostname | sort | tr '\n' ' '; echo
srun --mpi=pmix /usr/local/bin/mpi-ring
mpirun /usr/local/bin/mpi-ring
EOF
docker cp "$WORK/job.sh" "${PREFIX}-slurm-login:/home/hpc/job.sh"
docker exec "${PREFIX}-slurm-login" chown hpc:hpc /home/hpc/job.sh
job="$(login sbatch --parsable job.sh)"
for _ in $(seq 1 120); do [ -z "$(login squeue -h -j "$job" 2>/dev/null)" ] && break; sleep 0.5; done
login cat "/home/hpc/job-$job.out"
[ "$(grep -c 'result=OK' <(login cat "/home/hpc/job-$job.out"))" = 2 ] || fail "sbatch output"

echo "== without shared storage (cross-site): compile in login's /tmp, sbcast, node-local output"
if login which mpicc >/dev/null; then
	login bash -c 'mpicc -O2 -o /tmp/my-ring /usr/local/src/mpi-ring.c'
else
	echo "(image built with DEVEL=0: no mpicc; sbcast the shipped binary instead)"
	login cp /usr/local/bin/mpi-ring /tmp/my-ring
fi
out="$(login salloc -N3 -Q bash -c 'sbcast -f /tmp/my-ring /tmp/my-ring && srun --mpi=pmix /tmp/my-ring')"
echo "salloc + sbcast + srun: $out"
echo "$out" | grep -q 'result=OK' || fail "sbcast run"
cat >"$WORK/local.sh" <<'JOB'
#!/bin/bash
#SBATCH -N 1
#SBATCH -o /tmp/local-%j.out
echo "written on $(hostname) only"
JOB
docker cp "$WORK/local.sh" "${PREFIX}-slurm-login:/tmp/local.sh"
job="$(login sbatch --parsable /tmp/local.sh)"
for _ in $(seq 1 120); do [ -z "$(login squeue -h -j "$job" 2>/dev/null)" ] && break; sleep 0.5; done
bh="$(login scontrol show job "$job" | sed -n 's/.*BatchHost=\([^ ]*\).*/\1/p')"
echo "job $job wrote /tmp/local-$job.out on its batch host $bh; read from login with srun -w $bh:"
out="$(login srun -N1 -w "$bh" cat "/tmp/local-$job.out")"
echo "$out"
[ "$out" = "written on $bh only" ] || fail "node-local output"

echo "== add c4: long job on c1, replace the controller (new slurm.conf, same state volume)"
(login srun -N1 -w c1 -J sleeper bash -c 'sleep 25; echo sleeper-done' >"$WORK/sleeper.out" 2>&1; echo "rc=$?" >>"$WORK/sleeper.out") &
sleeper=$!
for _ in $(seq 1 40); do login squeue -h -n sleeper -t R | grep -q . && break; sleep 0.5; done
login squeue
sid="$(login squeue -h -n sleeper -o %i)"
render_conf c1 c2 c3 c4 >"$WORK/slurm.conf"
T1=$(now)
# graceful stop: slurmctld writes its state on SIGTERM (a SIGKILL can lose the newest jobs)
docker stop -t 30 "${PREFIX}-slurm-ctl" >/dev/null
docker rm "${PREFIX}-slurm-ctl" >/dev/null
run_node ctl "$NET.10" controller "$WORK/slurm.conf" -v "${PREFIX}-slurm-state:/var/spool/slurmctld"
run_node c4 "$NET.14" compute "" "${CONFSRV[@]}"
for _ in $(seq 1 120); do
	# ready: c2..c4 idle at the controller, and the login node's slurmd got the new slurm.conf
	# (pushed by the controller's start-up "scontrol reconfigure"), so srun knows c4's address
	[ "$(login sinfo -h -n c2,c3,c4 -t idle -o %D 2>/dev/null)" = 3 ] &&
		login grep -q '^NodeName=c4' /run/slurm/conf/slurm.conf && break
	sleep 0.5
done
echo "c4 usable $(since "$T1") s after the controller was replaced; the sleeper still runs on c1:"
login squeue
docker logs "${PREFIX}-slurm-ctl" 2>&1 | grep -E "Recovered JobId=$sid |pushed slurm.conf" | tail -3
# c4 takes work while the sleeper still holds c1 (CPUs=1)
out="$(login timeout 30 srun -N 3 -w c2,c3,c4 hostname | sort | tr '\n' ' ')"
echo "srun -N 3 -w c2,c3,c4 hostname -> $out"
[ "$out" = "c2 c3 c4 " ] || fail "srun on c2,c3,c4"
out="$(login timeout 30 srun -N 3 -n 3 -w c2,c3,c4 --mpi=pmix /usr/local/bin/mpi-ring)"
echo "$out"
[ "$out" = "mpi-ring size=3 ring=3 allreduce=6 expected=6 hosts=c2,c3,c4 result=OK" ] || fail "mpi on c2..c4"
login squeue -h -n sleeper -t R | grep -q . || fail "sleeper no longer running"
wait "$sleeper" || true
echo "sleeper: $(tr '\n' ' ' <"$WORK/sleeper.out")"
grep -q sleeper-done "$WORK/sleeper.out" && grep -q rc=0 "$WORK/sleeper.out" || fail "running job was killed"
out="$(login timeout 60 srun -N 4 -n 4 --mpi=pmix /usr/local/bin/mpi-ring)"
echo "$out"
[ "$out" = "mpi-ring size=4 ring=4 allreduce=10 expected=10 hosts=c1,c2,c3,c4 result=OK" ] || fail "mpi on 4"
login sinfo -N
echo "PASS slurm"
