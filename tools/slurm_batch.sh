#!/usr/bin/env bash
# A training job that survives its time limit and preemption: submit it
# with sbatch and Slurm alone carries it to the end of the schedule.
#   sbatch -p PARTITION --nodes=2 --ntasks-per-node=8 --gres=gpu:8 \
#       --cpus-per-task=5 --time=4:00:00 [--output=LOG] \
#       tools/slurm_batch.sh CONFIG WORK_DIR [train.py args]
# Every start runs tools/train.py with --resume: the first starts afresh
# (no checkpoint yet), each later one goes on from the work dir's
# last_checkpoint, in the middle of an epoch if that is where it stopped.
# 120 s before the time limit Slurm signals this script (USR2, below); the
# script passes the signal to srun, which passes it to every task; the
# tasks finish the iteration they are in, save, and exit with status 75;
# the script then requeues the job (at most MAX_REQUEUES times, default
# 10), and the requeued job resumes. A preemption (SIGTERM) is handled the
# same way. Environment: MAX_REQUEUES, PYTHON (default python), SRUN_ARGS.
#SBATCH --job-name=senet_mmdet
#SBATCH --requeue
#SBATCH --signal=B:USR2@120
#SBATCH --open-mode=append
set -uo pipefail
if [ $# -lt 2 ]; then
    echo "usage: sbatch [options] $0 CONFIG WORK_DIR [train.py args]" >&2
    exit 2
fi
CONFIG=$1
WORK_DIR=$2
MAX_REQUEUES=${MAX_REQUEUES:-10}
PYTHON=${PYTHON:-python}
SRUN_ARGS=${SRUN_ARGS:-""}
# The copy of this script that Slurm runs lives in its spool folder; the
# tools are found from the submission folder.
TOOLS=${SENET_MMDET_TOOLS:-$SLURM_SUBMIT_DIR/tools}
RESTARTS=${SLURM_RESTART_COUNT:-0}
echo "slurm_batch: job $SLURM_JOB_ID, start $((RESTARTS + 1))" \
    "(requeued $RESTARTS of at most $MAX_REQUEUES times)"

PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
srun --kill-on-bad-exit=1 $SRUN_ARGS \
    "$PYTHON" -u "$TOOLS/train.py" "$CONFIG" \
    --work-dir="$WORK_DIR" --launcher=slurm --resume "${@:3}" &
SRUN=$!
forward() {
    echo "slurm_batch: SIG$1 received, passed to the training tasks"
    kill -s "$1" "$SRUN" 2> /dev/null || true
}
trap 'forward USR2' USR2
trap 'forward USR1' USR1
trap 'forward TERM' TERM

# A trapped signal ends `wait` early (status > 128): wait again until srun
# itself has ended, and take its status.
while :; do
    wait "$SRUN"
    STATUS=$?
    if [ "$STATUS" -le 128 ]; then
        break
    fi
    if ! kill -0 "$SRUN" 2> /dev/null; then
        # Ended meanwhile: its own status, unless that wait collected it.
        wait "$SRUN"
        LAST=$?
        if [ "$LAST" -ne 127 ]; then
            STATUS=$LAST
        fi
        break
    fi
done

if [ "$STATUS" -eq 75 ]; then
    if [ "$RESTARTS" -ge "$MAX_REQUEUES" ]; then
        echo "slurm_batch: the training saved and stopped, but the job was" \
            "requeued $RESTARTS times already (MAX_REQUEUES=$MAX_REQUEUES):" \
            "not again; resubmit the same command to go on" >&2
        exit 75
    fi
    echo "slurm_batch: the training saved and stopped; requeueing job" \
        "$SLURM_JOB_ID"
    scontrol requeue "$SLURM_JOB_ID"
    exit 0
fi
exit "$STATUS"
