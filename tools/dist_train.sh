#!/usr/bin/env bash
# Train on GPUS processes per node with torchrun (MMDetection's script,
# launched with torchrun instead of the deprecated torch.distributed.launch).
#   Single node:  tools/dist_train.sh CONFIG GPUS [train.py args]
#   Multi-node:   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 \
#                     tools/dist_train.sh CONFIG GPUS [train.py args]
#                 (then NODE_RANK=1 on the second node, same MASTER_ADDR)
#   Elastic:      MAX_RESTARTS=3 tools/dist_train.sh CONFIG GPUS --resume
#                 restarts every worker (from the newest checkpoint, with
#                 --resume) after one fails, up to 3 times; with
#                 RDZV_BACKEND=c10d RDZV_ENDPOINT=HOST:PORT RDZV_ID=JOB
#                 the nodes meet there instead of at MASTER_ADDR:PORT, and
#                 NODE_RANK is not needed (docs/training.md, "Elastic
#                 launchers").
# Without CUDA the processes train on CPU over gloo (tools/train.py).
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [train.py args]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
MAX_RESTARTS=${MAX_RESTARTS:-0}
RDZV_BACKEND=${RDZV_BACKEND:-static}
PYTHON=${PYTHON:-python}
if [ "$RDZV_BACKEND" = static ]; then
    RENDEZVOUS=(--node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR"
                --master_port="$PORT")
else
    RENDEZVOUS=(--rdzv-backend="$RDZV_BACKEND"
                --rdzv-endpoint="${RDZV_ENDPOINT:-$MASTER_ADDR:$PORT}"
                --rdzv-id="${RDZV_ID:-none}")
fi

PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" exec \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    "${RENDEZVOUS[@]}" \
    --nproc_per_node="$GPUS" \
    --max-restarts="$MAX_RESTARTS" \
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
