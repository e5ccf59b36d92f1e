"""The excitation analysis of Hu et al. (journal version, Sec. 7.2, Fig. 6
and 7) on a trained detector's backbone, over the objects of its val set.

    python tools/analysis/excitation.py CONFIG CHECKPOINT [--out DIR]
        [--blocks SE_2_2 SE_5_1 ...] [--crop-size 128] [--context 0.25]
        [--channels 50] [--dist-block SE_4_2] [--dist-class NAME]

The paper averaged the excitation over ImageNet images of one class. Detection
images hold several objects of several classes, so each ground-truth object
of the val split is cut out with ``--context`` of its size added on every
side, resized to ``--crop-size`` pixels square, normalised by the detector's
data preprocessor, and run through the backbone alone (eval mode); each SE
module's gate (one value per channel) is recorded for the crop, under the
object's class. Writes to ``--out`` (default ``work_dirs/excitation``):

- ``excitation_<block>.png`` for each chosen block (default: the paper's
  choice, the last block of each stage and every block of the last stage)
  and ``excitation_blocks.png`` with all of them: the mean excitation of
  ``--channels`` uniformly sampled channels, one line per class and "all"
  (the paper's Fig. 6);
- ``excitation_distribution_<block>_<class>.png``: over the crops of one
  class, the mean, the standard deviation and the 5-95 % range per channel
  (the paper's Fig. 7);
- ``class_specificity.png`` and ``excitation.json``: per SE block, the class
  specificity (RMS difference between class profiles over RMS within-class
  spread) beside the same number with shuffled labels, the mean gate and
  the share of saturated gates (> 0.9).
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List

import matplotlib
import numpy as np
import torch
from mmengine.config import Config

matplotlib.use('Agg')  # files only: no display on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402

import senet_mmdet  # noqa: F401,E402  (registers the SE modules)
from mmdet.apis import init_detector  # noqa: E402
from mmdet.registry import DATASETS  # noqa: E402
from senet_mmdet.apis.excitation import (GateRecorder,  # noqa: E402
                                         excitation_summary, object_crops,
                                         paper_blocks, se_modules)
from senet_mmdet.engine import (UNSAFE_LOAD_FLAG,  # noqa: E402
                                allow_unsafe_load)

BATCH = 32


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', default='work_dirs/excitation')
    parser.add_argument(
        '--blocks', nargs='+',
        help='SE blocks to draw, named SE_<stage>_<block> as in the paper '
        '(default: the last block of each stage, every block of the last)')
    parser.add_argument('--crop-size', type=int, default=128,
                        help='object crops are resized to this (pixels)')
    parser.add_argument('--context', type=float, default=0.25,
                        help='context around each box, share of its size')
    parser.add_argument('--channels', type=int, default=50,
                        help='channels drawn per block (the paper: 50)')
    parser.add_argument('--dist-block',
                        help='block of the distribution figure (default: '
                        'the last block of the second-to-last stage)')
    parser.add_argument('--dist-class',
                        help='class of the distribution figure (default: '
                        'the first class)')
    parser.add_argument(
        UNSAFE_LOAD_FLAG, action='store_true',
        help='unpickle the checkpoint in full if weights-only loading '
        'refuses it (only for files you trust)')
    parser.add_argument('--max-images', type=int,
                        help='use only the first N val images')
    args = parser.parse_args()
    for name in ('config', 'checkpoint'):
        if not osp.isfile(getattr(args, name)):
            parser.error(f'{name} {getattr(args, name)} does not exist')
    return args


def val_dataset(cfg: Config):
    """The config's val dataset, loading images and boxes only."""
    dataset_cfg = cfg.val_dataloader.dataset.copy()
    dataset_cfg.pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True)
    ]
    return DATASETS.build(dataset_cfg)


def record_gates(model, dataset, args) -> tuple:
    """Gates of every SE block over every val object, and the labels."""
    crops: List[np.ndarray] = []
    labels: List[int] = []
    count = len(dataset) if args.max_images is None else min(
        args.max_images, len(dataset))
    for index in range(count):
        item = dataset[index]
        boxes = item['gt_bboxes'].tensor.numpy()
        crops += object_crops(item['img'], boxes, args.crop_size,
                              args.context)
        labels += item['gt_bboxes_labels'].tolist()
    if not crops:
        sys.exit('error: the val set has no ground-truth boxes to analyse')
    with GateRecorder(model.backbone) as recorder, torch.no_grad():
        for start in range(0, len(crops), BATCH):
            batch = [torch.from_numpy(crop).permute(2, 0, 1).contiguous()
                     for crop in crops[start:start + BATCH]]
            inputs = model.data_preprocessor(
                dict(inputs=batch, data_samples=None), False)['inputs']
            model.backbone(inputs)
    return recorder.stacked(), np.array(labels)


def sampled_channels(channels: int, wanted: int) -> np.ndarray:
    return np.unique(np.linspace(0, channels - 1, wanted).round().astype(int))


def draw_profiles(axes, name: str, block: dict, classes: List[str],
                  wanted: int) -> None:
    """The paper's Fig. 6 panel: mean excitation per sampled channel."""
    index = sampled_channels(block['channels'], wanted)
    x = np.arange(len(index))
    for class_name in classes:
        if class_name in block['profiles']:
            axes.plot(x, np.array(block['profiles'][class_name])[index],
                      lw=1.2, label=class_name)
    axes.plot(x, np.array(block['profile_all'])[index], 'k--', lw=1.2,
              label='all')
    axes.set(title=f'{name} (specificity {block["class_specificity"]:.2f}, '
             f'shuffled {block["class_specificity_shuffled"]:.2f})',
             xlabel=f'channel ({len(index)} of {block["channels"]}, '
             'uniformly sampled)',
             ylabel='mean excitation', ylim=(0, 1.02))
    axes.grid(alpha=0.3)


def draw_distribution(gates: np.ndarray, name: str, class_name: str,
                      wanted: int, out: str) -> None:
    """The paper's Fig. 7: the excitation over the crops of one class."""
    index = sampled_channels(gates.shape[1], wanted)
    chosen = gates[:, index]
    x = np.arange(len(index))
    mean, std = chosen.mean(axis=0), chosen.std(axis=0)
    low, high = np.percentile(chosen, [5, 95], axis=0)
    figure, axes = plt.subplots(figsize=(8, 3.6))
    axes.fill_between(x, low, high, color='tab:blue', alpha=0.15,
                      label='5-95 % of crops')
    axes.fill_between(x, mean - std, mean + std, color='tab:blue',
                      alpha=0.35, label='mean ± std')
    axes.plot(x, mean, color='tab:blue', lw=1.4, label='mean')
    axes.set(title=f'{name}: excitation over {len(gates)} crops of class '
             f'"{class_name}"',
             xlabel=f'channel ({len(index)} of {gates.shape[1]}, uniformly '
             'sampled)', ylabel='excitation', ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    axes.legend(loc='lower right')
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


def draw_specificity(summary: Dict[str, dict], out: str) -> None:
    """Class specificity and saturation per SE block, in network order."""
    names = list(summary)
    x = np.arange(len(names))
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5),
                                         sharex=True)
    top.plot(x, [summary[n]['class_specificity'] for n in names], 'o-',
             label='class labels')
    top.plot(x, [summary[n]['class_specificity_shuffled'] for n in names],
             's--', color='grey', label='shuffled labels (chance)')
    top.set(ylabel='class specificity',
            title='How much the excitation depends on the class, per SE '
            'block')
    top.legend()
    bottom.plot(x, [100 * summary[n]['saturated'] for n in names], 'o-',
                color='tab:red', label='gates > 0.9')
    bottom.plot(x, [100 * summary[n]['mean_gate'] for n in names], 's--',
                color='tab:green', label='mean gate x 100')
    bottom.set(ylabel='%', xlabel='SE block (stage_block)', ylim=(0, 102))
    bottom.legend()
    bottom.set_xticks(x, names, rotation=45)
    for axes in (top, bottom):
        axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


def main() -> None:
    args = parse_args()
    if args.unsafe_load:
        allow_unsafe_load()
    cfg = Config.fromfile(args.config)
    # init_detector also sets the config's default scope, which building
    # the dataset below needs.
    model = init_detector(cfg, args.checkpoint, device='cpu')
    try:
        names = list(se_modules(model.backbone))
    except ValueError as error:
        sys.exit(f'error: {error}')
    chosen = paper_blocks(names)
    blocks = args.blocks or chosen
    unknown = sorted(set(blocks) - set(names))
    if unknown:
        sys.exit(f'error: no SE block {unknown} in this backbone; it has '
                 f'{names}')
    # The paper's blocks list the last block of each stage but the last
    # first: the default is the last block before the last stage.
    stages = len({name.split('_')[1] for name in names})
    dist_block = args.dist_block or chosen[max(0, stages - 2)]
    dataset = val_dataset(cfg)
    classes = list(dataset.metainfo['classes'])
    dist_class = args.dist_class or classes[0]
    if dist_block not in names or dist_class not in classes:
        sys.exit(f'error: --dist-block {dist_block} / --dist-class '
                 f'{dist_class}: choose a block of {names} and a class of '
                 f'{classes}')

    gates, labels = record_gates(model, dataset, args)
    summary = excitation_summary(gates, labels, classes)
    os.makedirs(args.out, exist_ok=True)
    for name in blocks:
        figure, axes = plt.subplots(figsize=(8, 3.6))
        draw_profiles(axes, name, summary[name], classes, args.channels)
        axes.legend(loc='lower right', ncol=len(classes) + 1)
        figure.tight_layout()
        figure.savefig(osp.join(args.out, f'excitation_{name}.png'), dpi=110)
        plt.close(figure)
    rows = (len(blocks) + 1) // 2
    figure, grid = plt.subplots(rows, 2, figsize=(13, 3.4 * rows),
                                squeeze=False)
    for axes, name in zip(grid.flat, blocks):
        draw_profiles(axes, name, summary[name], classes, args.channels)
    for axes in grid.flat[len(blocks):]:
        axes.axis('off')
    grid.flat[0].legend(loc='lower right', ncol=len(classes) + 1)
    figure.tight_layout()
    figure.savefig(osp.join(args.out, 'excitation_blocks.png'), dpi=110)
    plt.close(figure)
    label = classes.index(dist_class)
    draw_distribution(
        gates[dist_block][labels == label], dist_block, dist_class,
        args.channels,
        osp.join(args.out,
                 f'excitation_distribution_{dist_block}_{dist_class}.png'))
    draw_specificity(summary, osp.join(args.out, 'class_specificity.png'))

    record = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        crops=dict(size=args.crop_size, context=args.context),
        objects_per_class={
            name: int((labels == index).sum())
            for index, name in enumerate(classes)
        },
        blocks=summary)
    with open(osp.join(args.out, 'excitation.json'), 'w') as handle:
        json.dump(record, handle, indent=1)
    print('| block | channels | class specificity | shuffled labels | '
          'mean gate | gates > 0.9 |')
    print('|---|---|---|---|---|---|')
    for name, block in summary.items():
        print(f'| {name} | {block["channels"]} | '
              f'{block["class_specificity"]:.3f} | '
              f'{block["class_specificity_shuffled"]:.3f} | '
              f'{block["mean_gate"]:.3f} | {100 * block["saturated"]:.1f} % |')
    print(f'figures and excitation.json in {args.out}')


if __name__ == '__main__':
    main()
