"""Inference example: the flagship Faster R-CNN SE-ResNet-50 FPN on CPU.

Builds the detector from configs/faster_rcnn_se_r50.py and runs
MMDetection's ``inference_detector`` on a generated image.

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

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--config',
        default=osp.join(REPO, 'configs', 'faster_rcnn_se_r50.py'))
    parser.add_argument(
        '--size', type=int, nargs=2, default=(480, 640), metavar=('H', 'W'))
    return parser.parse_args()


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

    print(f'Faster R-CNN from {osp.relpath(args.config)} (random weights)')
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
