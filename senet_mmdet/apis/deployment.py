"""What the deployment tools share: their timing and checkpoint options,
the checks of their file arguments, and the latency they report."""
import argparse
import os.path as osp
import statistics
import time
from typing import Callable, Iterable

from senet_mmdet.engine import UNSAFE_LOAD_FLAG


def add_timing_and_loading_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--repeat', type=int, default=5,
                        help='timed runs of each runtime (median)')
    parser.add_argument(
        UNSAFE_LOAD_FLAG, action='store_true',
        help='unpickle the checkpoint in full if weights-only loading '
        'refuses it (only for files you trust)')


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace,
                    files: Iterable[str]) -> None:
    """Stop with a usage error naming the first of ``files`` (argument
    names; each a path, a list of paths or None) that does not exist, or a
    ``--repeat`` under 1."""
    for name in files:
        paths = getattr(args, name)
        for path in paths if isinstance(paths, list) else [paths]:
            if path is not None and not osp.isfile(path):
                parser.error(f'{name.replace("_", "-")} {path} does not '
                             'exist')
    if args.repeat < 1:
        parser.error(f'--repeat must be at least 1, got {args.repeat}')


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    run()  # warm-up: allocations, thread pools, lazy initialisation
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
