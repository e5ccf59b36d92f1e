"""Inference example: SE-ResNet-50 and the flagship Faster R-CNN on CPU.

1. Builds SE-ResNet-50 beside MMDetection's ResNet-50 and prints their
   parameter counts against the paper's (SENET_FACTS.md, Sec. 2).
2. Builds Faster R-CNN SE-ResNet-50 FPN from configs/faster_rcnn_se_r50.py
   and runs MMDetection's ``inference_detector`` on a generated image.

No pretrained weights exist offline, so the detector's weights are random:
the run shows the pipeline working end to end, not accuracy.

    python tools/demo.py [--config CONFIG] [--size H W]
"""
import argparse
import os.path as osp
import time

import numpy as np
import torch

import senet_mmdet  # noqa: F401  (registers the SE modules)
from mmdet.apis import inference_detector, init_detector
from mmdet.models.backbones import ResNet
from senet_mmdet.models import SEResNet

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# SE-ResNet-50 / ResNet-50 with the 1000-class FC, from the prototxts.
PAPER_PARAMS_M = {'ResNet-50': 25.557, 'SE-ResNet-50': 28.088}
FC_PARAMS = 2048 * 1000 + 1000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--config',
        default=osp.join(REPO, 'configs', 'faster_rcnn_se_r50.py'))
    parser.add_argument(
        '--size', type=int, nargs=2, default=(480, 640), metavar=('H', 'W'))
    return parser.parse_args()


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def generated_image(height: int, width: int) -> np.ndarray:
    """A BGR image with a few filled shapes on a noisy background."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    for _ in range(5):
        y, x = rng.integers(0, height - 80), rng.integers(0, width - 80)
        h, w = rng.integers(30, 80, size=2)
        image[y:y + h, x:x + w] = rng.integers(80, 255, size=3)
    return image


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)

    print('Backbones (detection: no FC; paper: with the 1000-class FC)')
    plain = count_params(ResNet(depth=50))
    rows = [('ResNet-50', plain, PAPER_PARAMS_M['ResNet-50']),
            ('SE-ResNet-50', count_params(SEResNet(depth=50)),
             PAPER_PARAMS_M['SE-ResNet-50']),
            ('SE-ResNet-50, no SE in stage 4',
             count_params(
                 SEResNet(depth=50, stage_with_se=(True, True, True, False))),
             None)]
    for name, params, paper in rows:
        with_fc = (params + FC_PARAMS) / 1e6
        paper_text = f'{paper:.3f}M' if paper else 'not published'
        print(f'  {name:32s} {params / 1e6:7.3f}M  +FC {with_fc:7.3f}M  '
              f'paper {paper_text:>13s}  vs ResNet-50 '
              f'{100 * (params - plain) / (plain + FC_PARAMS):+5.1f} %')

    print(f'\nFaster R-CNN from {osp.relpath(args.config)} (random weights)')
    model = init_detector(args.config, checkpoint=None, device='cpu')
    image = generated_image(*args.size)
    inference_detector(model, image)  # warm-up
    start = time.perf_counter()
    result = inference_detector(model, image)
    seconds = time.perf_counter() - start
    instances = result.pred_instances
    height, width = result.img_shape
    print(f'  backbone {type(model.backbone).__name__}-'
          f'{model.backbone.depth}, input {args.size[0]}x{args.size[1]} '
          f'resized to {height}x{width}: {seconds:.2f} s on '
          f'{torch.get_num_threads()} CPU threads')
    with torch.no_grad():
        levels = model.extract_feat(torch.rand(1, 3, height, width))
    print('  FPN levels: ' + ', '.join(
        f'{tuple(level.shape[1:])}' for level in levels))
    print(f'  {len(instances)} boxes above score '
          f'{model.test_cfg.rcnn.score_thr} (random weights score every '
          'class near 1/81, so none is expected)')


if __name__ == '__main__':
    main()
