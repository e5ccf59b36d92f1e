#!/usr/bin/env bash
# Train on GPUS processes per node with torchrun (MMDetection's script,
# launched with torchrun instead of the deprecated torch.distributed.launch).
#   Single node:  tools/dist_train.sh CONFIG GPUS [train.py args]
#   Multi-node:   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 \
#                     tools/dist_train.sh CONFIG GPUS [train.py args]
#                 (then NODE_RANK=1 on the second node, same MASTER_ADDR)
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
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
