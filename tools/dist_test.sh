#!/usr/bin/env bash
# Test a checkpoint on GPUS processes per node with torchrun; the metrics
# are gathered across ranks and written to WORK_DIR/test_metrics.json.
#   Single node:  tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
#   Multi-node:   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 \
#                     tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py args]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
