"""What the per-step agreement on a stop signal costs: 2 processes over gloo
on this machine, each timing ``StopRequests.agreed()`` (one all-reduce of
one number, what AtomicCheckpointHook runs after every iteration) and a
DistributedDataParallel training step of SE-ResNet-18, interleaved.

    python tools/analysis/stop_agreement_cost.py [--steps 20] [--calls 200]
        [--shape N C H W]

Prints the median time of each and their ratio: the share of a training
step that the agreement adds.
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from senet_mmdet.engine.signals import DEFAULT_SIGNALS, StopRequests
from senet_mmdet.models import SEResNet


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=20,
                        help='timed training steps (default 20)')
    parser.add_argument('--calls', type=int, default=200,
                        help='timed agreements after each step (default 200)')
    parser.add_argument('--shape', type=int, nargs=4, default=[4, 3, 256, 256],
                        metavar=('N', 'C', 'H', 'W'),
                        help='input of each step (default 4 3 256 256)')
    parser.add_argument('--port', type=int, default=29512)
    args = parser.parse_args()
    if min(args.steps, args.calls, *args.shape) < 1:
        parser.error('--steps, --calls and --shape must be positive')
    return args


def worker(rank: int, args: argparse.Namespace, results) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(args.port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=2)
    torch.manual_seed(rank)
    model = torch.nn.parallel.DistributedDataParallel(
        SEResNet(depth=18, norm_eval=False))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    inputs = torch.rand(*args.shape)
    requests = StopRequests(DEFAULT_SIGNALS)
    steps, agreements = [], []
    for step in range(args.steps + 1):
        start = time.perf_counter()
        optimizer.zero_grad()
        sum(output.mean() for output in model(inputs)).backward()
        optimizer.step()
        took = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(args.calls):
            requests.agreed()
        if step:  # the first of each is a warm-up
            steps.append(took)
            agreements.append((time.perf_counter() - start) / args.calls)
    if rank == 0:
        results.put((statistics.median(steps), statistics.median(agreements)))
    dist.barrier()
    # Leave without running the process group's destructor: in torch 2.13
    # it joins gloo's worker thread with the GIL held (DDP's Reducer is
    # freed by pybind11 without releasing it) while that thread waits for
    # the GIL to free the barrier's tensors: a deadlock, seen under load.
    # The result is already in the queue; exit status 0 is all mp.spawn
    # reads.
    os._exit(0)


def main() -> int:
    args = parse_args()
    results = mp.get_context('spawn').SimpleQueue()
    mp.spawn(worker, args=(args, results), nprocs=2)
    step, agreement = results.get()
    print(f'2 processes, gloo, torch {torch.__version__}, 1 thread each')
    print(f'training step (SE-ResNet-18, DDP, {"x".join(map(str, args.shape))}'
          f'): median {step * 1e3:.1f} ms over {args.steps} steps')
    print(f'stop agreement (one all-reduce): median {agreement * 1e6:.1f} us '
          f'over {args.steps} x {args.calls} calls')
    print(f'agreement / step: {agreement / step:.2e}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
