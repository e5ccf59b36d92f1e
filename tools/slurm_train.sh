#!/usr/bin/env bash
# Train with Slurm (MMDetection's script): one task per GPU; the rank-0
# task's node is the master (MASTER_PORT, default 29500, must be free).
#   GPUS=16 GPUS_PER_NODE=8 tools/slurm_train.sh PARTITION JOB_NAME CONFIG \
#       WORK_DIR [train.py args]
# SIGNAL (default USR2@120): Slurm sends that signal this many seconds
# before the time limit, and the tasks save and stop (status 75); resume
# with --resume. tools/slurm_batch.sh also requeues the job by itself.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
# CPU_ONLY=1: a partition without GPUs (or a test cluster); the tasks then
# train over gloo on the CPUs and no GPU is requested from Slurm.
CPU_ONLY=${CPU_ONLY:-0}
GRES=(--gres=gpu:"$GPUS_PER_NODE")
if [ "$CPU_ONLY" = 1 ]; then
    GRES=()
fi
PYTHON=${PYTHON:-python}
SIGNAL=${SIGNAL:-USR2@120}

set -x
PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    "${GRES[@]}" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    --signal="$SIGNAL" \
    $SRUN_ARGS \
    "$PYTHON" -u "$(dirname "$0")/train.py" "$CONFIG" \
    --work-dir="$WORK_DIR" --launcher=slurm "${@:5}"
