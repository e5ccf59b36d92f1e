"""Time exported detectors side by side in onnxruntime: what deploying SE
costs against its plain twin.

    python tools/deployment/onnx_latency.py BASELINE.onnx OTHER.onnx [...]
        [--labels NAME ...] [--image IMG] [--shape H W] [--rounds N]
        [--threads T] [--profile RUNS] [--out REPORT.json]

Every file gets the same input: ``--image`` resized to H x W and normalised
with the ImageNet mean and std in RGB order (what MMDetection's R-50 configs
and the SE configs started from ImageNet SE weights both use), or without an
image a fixed random one. The files run in plain onnxruntime sessions (CPU,
no custom operators) in interleaved rounds, each round in another order,
after one warm-up run each, so that the machine's drift weighs on all of
them alike. Prints each file's size and median / fastest latency, and their
ratios to the first file. ``--profile RUNS`` then runs each file RUNS
more times under onnxruntime's profiler and prints the milliseconds per
run of each operator type of the graph as onnxruntime runs it (after its
optimisations: fused convolutions, NCHWc layout reorders): where the
difference between two files goes.
"""
import argparse
import collections
import json
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import Dict, List, Optional

import numpy as np
import onnxruntime

# ImageNet mean and std, RGB, on 0-255 pixels (MMDetection's default
# DetDataPreprocessor values).
MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('onnx', nargs='+',
                        help='ONNX files; the first is the baseline')
    parser.add_argument('--labels', nargs='+',
                        help='a name per file (default: the file names)')
    parser.add_argument('--image', help='input image (default: random)')
    parser.add_argument('--shape', nargs=2, type=int, default=[800, 1216],
                        metavar=('H', 'W'),
                        help='input height and width (default 800 1216)')
    parser.add_argument('--rounds', type=int, default=10,
                        help='timed rounds; each runs every file once')
    parser.add_argument('--threads', type=int, default=2,
                        help="onnxruntime's intra-op threads (default 2)")
    parser.add_argument(
        '--profile', type=int, default=0, metavar='RUNS',
        help='then profile RUNS runs of each file: milliseconds per run of '
        'each operator type (default 0: no profile)')
    parser.add_argument('--out', help='also write the report as JSON here')
    args = parser.parse_args()
    for path in [*args.onnx, *([args.image] if args.image else [])]:
        if not osp.isfile(path):
            parser.error(f'{path} does not exist')
    if len(args.onnx) < 2:
        parser.error('give at least two ONNX files: a baseline and another')
    if args.labels is not None and len(args.labels) != len(args.onnx):
        parser.error(f'--labels has {len(args.labels)} names for '
                     f'{len(args.onnx)} files')
    if args.profile < 0:
        parser.error(f'--profile must be 0 or more runs, got {args.profile}')
    if args.rounds < 1 or args.threads < 1 or min(args.shape) < 32:
        parser.error('--rounds and --threads must be at least 1, each of '
                     f'--shape at least 32 (got {args.rounds}, '
                     f'{args.threads}, {args.shape})')
    return args


def network_input(image: str, height: int, width: int) -> np.ndarray:
    if image is None:
        return np.random.default_rng(0).standard_normal(
            (1, 3, height, width)).astype(np.float32)
    import mmcv
    pixels = mmcv.imresize(mmcv.imread(image, channel_order='rgb'),
                           (width, height)).astype(np.float32)
    return ((pixels - MEAN) / STD).transpose(2, 0, 1)[None].copy()


def session(path: str, threads: int,
            profile_prefix: Optional[str] = None
            ) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return onnxruntime.InferenceSession(path, options,
                                        providers=['CPUExecutionProvider'])


def operator_milliseconds(path: str, threads: int, feed: np.ndarray,
                          runs: int) -> Dict[str, float]:
    """Milliseconds per run spent in each operator type of ``path``, from
    onnxruntime's profiler over ``runs`` runs after one warm-up run."""
    with tempfile.TemporaryDirectory() as folder:
        profiled = session(path, threads, osp.join(folder, 'profile'))
        inputs = {profiled.get_inputs()[0].name: feed}
        for _ in range(runs + 1):
            profiled.run(None, inputs)
        with open(profiled.end_profiling()) as file:
            events = json.load(file)
    # The profile holds every run; the warm-up is the first model_run.
    starts = sorted(event['ts'] for event in events
                    if event.get('name') == 'model_run')
    microseconds = collections.Counter()
    for event in events:
        if (event.get('cat') == 'Node' and event['ts'] >= starts[1]
                and event['name'].endswith('_kernel_time')):
            microseconds[event['args']['op_name']] += event['dur']
    return {op: total / runs / 1000 for op, total in microseconds.items()}


def print_operator_table(labels: List[str],
                         profiles: List[Dict[str, float]]) -> None:
    """Operator types as rows (the most expensive over all files first),
    files as columns, milliseconds per run; and each file's total."""
    totals = collections.Counter()
    for profile in profiles:
        totals.update(profile)
    print('| operator type (ms per run) | ' + ' | '.join(labels) + ' |')
    print('|---|' + '---|' * len(labels))
    for op, _ in totals.most_common():
        print(f'| {op} | ' + ' | '.join(
            f'{profile.get(op, 0.0):.1f}' for profile in profiles) + ' |')
    print('| all operators | ' + ' | '.join(
        f'{sum(profile.values()):.1f}' for profile in profiles) + ' |')


def time_interleaved(sessions: List[onnxruntime.InferenceSession],
                     feed: np.ndarray, rounds: int) -> List[List[float]]:
    """Seconds per run of each session, one run each per round; the order
    rotates from round to round."""
    feeds = [{s.get_inputs()[0].name: feed} for s in sessions]
    for run, inputs in zip(sessions, feeds):
        run.run(None, inputs)
    seconds: List[List[float]] = [[] for _ in sessions]
    for round_index in range(rounds):
        for offset in range(len(sessions)):
            index = (round_index + offset) % len(sessions)
            start = time.perf_counter()
            sessions[index].run(None, feeds[index])
            seconds[index].append(time.perf_counter() - start)
    return seconds


def report(paths: List[str], labels: List[str],
           seconds: List[List[float]]) -> List[Dict]:
    rows = []
    for path, label, times in zip(paths, labels, seconds):
        rows.append(dict(label=label, onnx=path,
                         megabytes=osp.getsize(path) / 2**20,
                         median_ms=statistics.median(times) * 1000,
                         min_ms=min(times) * 1000))
    base = rows[0]
    for row in rows:
        row['size_ratio'] = row['megabytes'] / base['megabytes']
        row['median_ratio'] = row['median_ms'] / base['median_ms']
        row['min_ratio'] = row['min_ms'] / base['min_ms']
    return rows


def main() -> int:
    args = parse_args()
    labels = args.labels or [osp.basename(path) for path in args.onnx]
    feed = network_input(args.image, *args.shape)
    sessions = [session(path, args.threads) for path in args.onnx]
    rows = report(args.onnx, labels,
                  time_interleaved(sessions, feed, args.rounds))
    print(f'onnxruntime {onnxruntime.__version__}, {args.threads} threads, '
          f'input 1x3x{args.shape[0]}x{args.shape[1]}, {args.rounds} '
          'interleaved rounds; ratios to the first file')
    print('| model | file (MB) | size ratio | latency median / min (ms) | '
          'latency ratio median / min |')
    print('|---|---|---|---|---|')
    for row in rows:
        print(f'| {row["label"]} | {row["megabytes"]:.1f} | '
              f'{row["size_ratio"]:.3f} | {row["median_ms"]:.1f} / '
              f'{row["min_ms"]:.1f} | {row["median_ratio"]:.3f} / '
              f'{row["min_ratio"]:.3f} |')
    if args.profile:
        del sessions
        for row in rows:
            row['operator_ms'] = operator_milliseconds(
                row['onnx'], args.threads, feed, args.profile)
        print(f'onnxruntime profile, {args.profile} runs of each file:')
        print_operator_table(labels, [row['operator_ms'] for row in rows])
    if args.out:
        with open(args.out, 'w') as file:
            json.dump(dict(threads=args.threads, shape=args.shape,
                           rounds=args.rounds, image=args.image,
                           onnxruntime=onnxruntime.__version__, rows=rows),
                      file, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
