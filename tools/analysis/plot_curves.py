"""Training loss and validation AP over training, several runs on one
figure, from the logs that mmengine writes into each work dir.

    python tools/analysis/plot_curves.py WORK_DIR [WORK_DIR ...]
        [--labels LABEL ...] [--metric coco/bbox_mAP] [--out curves.png]

Reads every ``WORK_DIR/<timestamp>/vis_data/scalars.json`` (mmengine's
``LocalVisBackend``; a resumed run has several, joined in time order).
Runs given the same label share a colour and one legend entry, so the seeds
of one backbone read as one group.
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

import matplotlib

matplotlib.use('Agg')  # files only: no display on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402

Curve = Tuple[List[float], List[float]]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dirs', nargs='+', help='training work dirs')
    parser.add_argument(
        '--labels', nargs='+',
        help='one legend label per work dir (default: the folder names)')
    parser.add_argument(
        '--metric', default='coco/bbox_mAP',
        help='validation metric to plot (default coco/bbox_mAP)')
    parser.add_argument('--out', default='curves.png', help='PNG to write')
    args = parser.parse_args()
    if args.labels and len(args.labels) != len(args.work_dirs):
        parser.error(f'--labels has {len(args.labels)} entries for '
                     f'{len(args.work_dirs)} work dirs; give one per dir')
    return args


def read_curves(work_dir: str, metric: str) -> Dict[str, Curve]:
    """``{'loss': (iterations, values), metric: (epochs, values)}`` from a
    work dir's logs; an entry logged again after a resume replaces the
    earlier one at the same step."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                     'scalars.json')))
    if not logs:
        raise FileNotFoundError(
            f'{work_dir} holds no training log (*/vis_data/scalars.json); '
            'give the --work-dir of a tools/train.py run')
    loss: Dict[int, float] = {}
    validation: Dict[int, float] = {}
    for log in logs:
        with open(log) as handle:
            for line in handle:
                if not line.strip():
                    continue
                entry = json.loads(line)
                if 'loss' in entry:
                    loss[entry['step']] = entry['loss']
                elif metric in entry:
                    validation[entry['step']] = entry[metric]
    if not loss:
        raise ValueError(f'{work_dir}: the logs hold no training loss')

    def curve(points: Dict[int, float]) -> Curve:
        steps = sorted(points)
        return [float(s) for s in steps], [points[s] for s in steps]

    return {'loss': curve(loss), metric: curve(validation)}


def plot(runs: List[Tuple[str, Dict[str, Curve]]], metric: str,
         out: str) -> None:
    """Loss over iterations (left) and the metric over epochs (right)."""
    figure, (loss_axes, metric_axes) = plt.subplots(
        1, 2, figsize=(11, 4.2))
    colours: Dict[str, str] = {}
    cycle = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for label, curves in runs:
        first = label not in colours
        colour = colours.setdefault(label, cycle[len(colours) % len(cycle)])
        legend: Optional[str] = label if first else None
        loss_axes.plot(*curves['loss'], color=colour, lw=1, alpha=0.8,
                       label=legend)
        epochs, values = curves[metric]
        if epochs:
            metric_axes.plot(epochs, [100 * v for v in values], color=colour,
                             marker='o', ms=3, lw=1, alpha=0.8, label=legend)
    loss_axes.set(xlabel='iteration', ylabel='training loss (sum of terms)',
                  title='Training loss')
    metric_axes.set(xlabel='epoch', ylabel=f'{metric} (%)',
                    title=f'Validation {metric}')
    for axes in (loss_axes, metric_axes):
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


def main() -> int:
    args = parse_args()
    labels = args.labels or [osp.basename(osp.normpath(d))
                             for d in args.work_dirs]
    try:
        runs = [(label, read_curves(work_dir, args.metric))
                for label, work_dir in zip(labels, args.work_dirs)]
    except (FileNotFoundError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    plot(runs, args.metric, args.out)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
