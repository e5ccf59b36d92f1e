#!/usr/bin/env bash
# Test a checkpoint with Slurm (MMDetection's script): one task per GPU.
# CPU_ONLY=1 asks Slurm for no GPU (tools/slurm_train.sh says more).
#   GPUS=8 tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT \
#       [test.py args, e.g. --work-dir DIR]
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
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

set -x
PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    "${GRES[@]}" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$(dirname "$0")/test.py" "$CONFIG" "$CHECKPOINT" \
    --launcher=slurm "${@:5}"
