"""What seeding each sample costs: a config's training dataset loaded
sample by sample as torch loads it, and as SafeRunner's training loads it
(each sample inside generators seeded from (seed, epoch, index):
SeededDataset, senet_mmdet/datasets/seeding.py), interleaved, beside the
seeding alone.

    python tools/analysis/sample_seeding_cost.py CONFIG [--samples 50]
        [--rounds 5] [--cfg-options K=V ...]

Prints the median time per sample of each and the ratio of the seeding to
the plain sample, in the main process (``num_workers=0``: the generators'
states are saved and put back) and in a worker (seeded only): the share of
data loading that the seeding adds.
"""
import argparse
import statistics
import time

import torch
from mmengine.config import DictAction
from mmengine.registry import init_default_scope

import senet_mmdet  # noqa: F401  (registers the datasets)
from mmdet.registry import DATASETS
from senet_mmdet.apis.config import load_config
from senet_mmdet.datasets import SeededDataset
from senet_mmdet.randomness import (forked_random_states, sample_seed,
                                    seed_random_generators)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='a training config')
    parser.add_argument('--samples', type=int, default=50,
                        help='samples loaded per round (default 50)')
    parser.add_argument('--rounds', type=int, default=5,
                        help='rounds of each, interleaved (default 5)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, as in train.py')
    args = parser.parse_args()
    if min(args.samples, args.rounds) < 1:
        parser.error('--samples and --rounds must be positive')
    return args


def per_sample(load, indices: list) -> float:
    """Seconds per sample of ``load`` over ``indices``."""
    start = time.perf_counter()
    for index in indices:
        load(index)
    return (time.perf_counter() - start) / len(indices)


def fork_only(index: int) -> None:
    """What the main process adds to a sample (``num_workers=0``)."""
    with forked_random_states(sample_seed(0, 1, index)):
        pass


def seed_only(index: int) -> None:
    """What a dataloader worker adds (the seed comes from the main
    process's sampler, computed there)."""
    seed_random_generators(sample_seed(0, 1, index))


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    indices = [index % len(dataset) for index in range(args.samples)]
    seeded = [(index, sample_seed(0, 1, index)) for index in indices]
    seeded_dataset = SeededDataset(dataset)
    loads = dict(plain=dataset.__getitem__,
                 seeded=seeded_dataset.__getitem__,
                 fork=fork_only, seed=seed_only)
    times = {name: [] for name in loads}
    for round_ in range(args.rounds + 1):
        for name, load in loads.items():
            took = per_sample(load, seeded if name == 'seeded' else indices)
            if round_:  # the first round warms caches up
                times[name].append(took)
    plain, with_seed, fork, seed = (statistics.median(times[name])
                                    for name in loads)
    print(f'{args.config}: training pipeline, {len(dataset)} samples, '
          f'torch {torch.__version__}, 1 thread')
    print(f'plain sample: median {plain * 1e3:.3f} ms per sample over '
          f'{args.rounds} x {args.samples} samples')
    print(f'seeded sample (main process): median {with_seed * 1e3:.3f} ms '
          'per sample')
    print(f'seeding in the main process (seed, fork, restore): median '
          f'{fork * 1e6:.1f} us per sample, {fork / plain:.4f} of a sample')
    print(f'seeding in a worker (seed): median {seed * 1e6:.1f} us per '
          f'sample, {seed / plain:.4f} of a sample')


if __name__ == '__main__':
    main()
