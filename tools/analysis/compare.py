"""Train and evaluate a plain detector and its SE twin for several seeds,
then print one table of both (through paper_table.py) and draw their
training curves on one figure (through plot_curves.py).

    python tools/analysis/compare.py [--protocol toy|trees]
        [--configs PLAIN SE] [--seeds 3] [--work-dir work_dirs/compare]
        [--val-interval 1] [--cfg-options K=V ...]

A protocol is a pair of twin configs: ``toy`` (``make compare``) is
MMDetection's ResNet-18 and SE-ResNet-18 in the same lean Faster R-CNN on
the generated shapes, ``trees`` (``make compare-trees``) the same twins on
the real tree-crown images of ``make trees``; ``--configs`` compares any
others. Each (config, seed) run lives in
``WORK_DIR/<config name>/seed_<seed>/`` and is done once it holds
``test_metrics.json``: a second call skips finished runs, resumes an
interrupted training from its last checkpoint, and only tests a trained
run that was not tested yet. ``WORK_DIR/table.md`` and
``WORK_DIR/curves.png`` hold the results.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time
from typing import List, Sequence

from mmengine.config import Config

import senet_mmdet  # noqa: F401  (the configs' scope and registries)
from senet_mmdet.apis.runs import (config_name, final_checkpoint_name,
                                   seed_option, seeded_run_dir)

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(TOOLS)
CONFIGS = osp.join(REPO, 'configs')
# Protocol -> its plain and SE configs.
PROTOCOLS = {
    name: tuple(
        osp.join(CONFIGS, folder, pattern.format(backbone=backbone))
        for backbone in ('r18', 'se-r18'))
    for name, folder, pattern in (
        ('toy', 'toy', 'faster-rcnn_{backbone}_fpn-lean_8e_toy-shapes.py'),
        ('trees', 'trees',
         'faster-rcnn_{backbone}_fpn-lean_8e_neon-trees.py'))
}
# Backbone type -> the label of its runs in the figure.
LABELS = {'ResNet': 'ResNet', 'SEResNet': 'SE-ResNet',
          'ResNeXt': 'ResNeXt', 'SEResNeXt': 'SE-ResNeXt',
          'SENet154': 'SENet-154'}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--protocol', choices=sorted(PROTOCOLS), default='toy',
        help='the twin configs to compare (default toy)')
    parser.add_argument(
        '--configs', nargs='+',
        help='the configs to compare, instead of a protocol\'s')
    parser.add_argument(
        '--seeds', type=int, default=3,
        help='train each config with seeds 0 .. N-1 (default 3)')
    parser.add_argument('--work-dir', default='work_dirs/compare')
    parser.add_argument(
        '--val-interval', type=int, default=1,
        help='evaluate every N epochs during training, for the AP curves '
        '(default 1; the same for every run)')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[],
        help='config options applied to every run alike, e.g. to make the '
        'protocol harder for both backbones')
    args = parser.parse_args()
    args.configs = args.configs or list(PROTOCOLS[args.protocol])
    if args.seeds < 1:
        parser.error(f'--seeds {args.seeds}: give at least 1 seed')
    for config in args.configs:
        if not osp.isfile(config):
            parser.error(f'config {config} does not exist')
    return args


def tool(name: str, *args: str) -> List[str]:
    return [sys.executable, osp.join(TOOLS, name), *args]


def run(command: Sequence[str], log: str) -> None:
    """Run a tool with its output in ``log``; fail naming the log."""
    with open(log, 'a') as handle:
        result = subprocess.run(command, stdout=handle,
                                stderr=subprocess.STDOUT)
    if result.returncode != 0:
        sys.exit(f'error: `{" ".join(command)}` failed '
                 f'(exit {result.returncode}); see {log}')


def train_and_test(config: str, cfg: Config, seed: int, run_dir: str,
                   options: Sequence[str]) -> str:
    """Bring one run of ``config`` (parsed: ``cfg``) to
    ``test_metrics.json``; returns what was done."""
    if osp.isfile(osp.join(run_dir, 'test_metrics.json')):
        return 'finished earlier, kept'
    checkpoint = osp.join(run_dir, final_checkpoint_name(cfg))
    log = osp.join(run_dir, 'compare.log')
    seeded = [seed_option(seed), *options]
    done = []
    if not osp.isfile(checkpoint):
        command = tool('train.py', config, '--work-dir', run_dir,
                       '--cfg-options', *seeded)
        if osp.isfile(osp.join(run_dir, 'last_checkpoint')):
            command.append('--resume')
            done.append('resumed')
        run(command, log)
        done.append('trained')
    run(tool('test.py', config, checkpoint, '--work-dir', run_dir,
             '--cfg-options', *seeded), log)
    return ', '.join(done + ['tested'])


def main() -> None:
    args = parse_args()
    start = time.monotonic()
    options = [f'train_cfg.val_interval={args.val_interval}',
               *args.cfg_options]
    cfgs = {config: Config.fromfile(config) for config in args.configs}
    run_dirs, labels = [], []
    # Seed by seed, the configs in turn: what else loads the machine then
    # weighs on every backbone alike, and an interrupted comparison still
    # holds complete pairs.
    for seed in range(args.seeds):
        for config in args.configs:
            name = config_name(config)
            backbone = cfgs[config].model.backbone.type
            run_dir = seeded_run_dir(args.work_dir, config, seed)
            # The log goes there before mmengine creates the work dir.
            os.makedirs(run_dir, exist_ok=True)
            began = time.monotonic()
            done = train_and_test(config, cfgs[config], seed, run_dir,
                                  options)
            print(f'{name} seed {seed}: {done} '
                  f'({time.monotonic() - began:.0f} s)', flush=True)
            run_dirs.append(run_dir)
            labels.append(LABELS.get(backbone, backbone))

    table = subprocess.run(tool(osp.join('analysis', 'paper_table.py'),
                                '--measured-only', *run_dirs),
                           capture_output=True, text=True)
    if table.returncode != 0:
        sys.exit(table.stderr)
    with open(osp.join(args.work_dir, 'table.md'), 'w') as handle:
        handle.write(table.stdout)
    figure = osp.join(args.work_dir, 'curves.png')
    run(tool(osp.join('analysis', 'plot_curves.py'), *run_dirs, '--labels',
             *labels, '--out', figure),
        osp.join(args.work_dir, 'plot_curves.log'))
    print(table.stdout)
    print(f'table: {osp.join(args.work_dir, "table.md")}, curves: {figure}, '
          f'wall time {time.monotonic() - start:.0f} s')


if __name__ == '__main__':
    main()
