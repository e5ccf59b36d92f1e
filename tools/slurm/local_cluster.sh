#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for the launcher tests:
# Debian's slurm-wlm (slurmctld + slurmd) and munge, on localhost only,
# with every file (config, state, spool, logs, munge socket) in one folder.
#   tools/slurm/local_cluster.sh start DIR   # prints: export SLURM_CONF=...
#   SLURM_CONF=DIR/slurm.conf srun -p local ...
#   tools/slurm/local_cluster.sh stop DIR
# Install first (as root): apt-get install -y slurm-wlm munge
# Environment: CPUS (default: nproc), SLURMCTLD_PORT / SLURMD_PORT (default
# 6917 / 6918), PARTITION (default: local).
set -euo pipefail
if [ $# -ne 2 ] || { [ "$1" != start ] && [ "$1" != stop ]; }; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
fi
ACTION=$1
DIR=$(mkdir -p "$2" && cd "$2" && pwd)
CONF="$DIR/slurm.conf"

stop() {
    local pids=()
    for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/munged.pid"; do
        if [ -f "$pidfile" ]; then
            pids+=("$(cat "$pidfile")")
        fi
    done
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    # Wait until the daemons are gone (they remove their pid files before
    # they exit), so that a new cluster can take their ports at once.
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    done
    rm -f "$DIR"/*.pid
}

if [ "$ACTION" = stop ]; then
    stop
    exit 0
fi

for command in slurmctld slurmd munged srun; do
    if ! command -v "$command" > /dev/null; then
        echo "$0: $command not found; install Slurm and munge first:" \
            "apt-get install -y slurm-wlm munge" >&2
        exit 1
    fi
done
NODE=$(hostname -s)
CPUS=${CPUS:-$(nproc)}
PARTITION=${PARTITION:-local}
mkdir -p "$DIR/state" "$DIR/spool" "$DIR/munge"

# munge: a key of this cluster's own, a socket in DIR.
if [ ! -f "$DIR/munge/munge.key" ]; then
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 2>/dev/null
fi
chmod 700 "$DIR/munge"
chmod 400 "$DIR/munge/munge.key"
MUNGE_SOCKET="$DIR/munge/munge.socket"
munged --force --key-file="$DIR/munge/munge.key" \
    --socket="$MUNGE_SOCKET" --pid-file="$DIR/munged.pid" \
    --log-file="$DIR/munged.log" --seed-file="$DIR/munge/munge.seed"

cat > "$CONF" <<CONF
ClusterName=senet-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=${SLURMCTLD_PORT:-6917}
SlurmdPort=${SLURMD_PORT:-6918}
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
JobCompType=jobcomp/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF

export SLURM_CONF="$CONF"
slurmctld -f "$CONF"
slurmd -f "$CONF"
# Ready when the node accepts jobs.
for _ in $(seq 100); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        echo "export SLURM_CONF=$CONF"
        exit 0
    fi
    sleep 0.2
done
echo "$0: the node did not come up; see $DIR/slurmctld.log and" \
    "$DIR/slurmd.log" >&2
sinfo -N >&2 || true
stop
exit 1
