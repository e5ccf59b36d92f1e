"""Detect objects in images and draw them: MMDetection's ``DetInferencer``
and its visualizer, with boxes, class names and scores on the image, and
optionally the ground truth beside the prediction (docs/inference.md).

    python tools/demo.py IMAGE CONFIG [CHECKPOINT] [--out PATH]
        [--score-thr 0.3] [--gt ANN_FILE] [--num N]
        [--slice SIZE [--slice-overlap 0.25]] [--device cpu]

IMAGE is one image file (``--out`` is then the PNG to write, default
``outputs/<image name>.png``) or a folder of images (``--out`` is a folder,
default ``outputs/``; ``--num N`` takes the first N in name order). With
``--gt`` (a COCO annotation file listing the images), each picture shows
the ground truth on the left and the prediction on the right. With
``--slice SIZE`` each image is predicted in overlapping windows of SIZE px,
merged by NMS (for images much larger than the training images; see
senet_mmdet/apis/inference.py). Without a CHECKPOINT the detector keeps its
random initial weights, which shows the pipeline working, not accuracy.

    python tools/demo.py data/toy_shapes/val \
        configs/toy/faster-rcnn_se-r18_fpn-lean_8e_toy-shapes.py \
        work_dirs/demo/epoch_8.pth --num 4 \
        --gt data/toy_shapes/annotations/instances_val.json
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

import cv2
import mmcv
import numpy as np
import torch
from mmengine.structures import InstanceData

import senet_mmdet  # noqa: F401  (registers the SE modules)
from mmdet.apis import DetInferencer
from mmdet.structures import DetDataSample
from senet_mmdet.apis.inference import predict_sliced
from senet_mmdet.datasets import IMAGE_SUFFIXES
from senet_mmdet.engine import UNSAFE_LOAD_FLAG, allow_unsafe_load

CAPTION_HEIGHT = 22


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('image', help='an image file or a folder of images')
    parser.add_argument('config', help='the detector config')
    parser.add_argument(
        'checkpoint', nargs='?',
        help='trained weights (.pth); without them the weights are random')
    parser.add_argument(
        '--out', help='PNG to write for one image, folder for a folder '
        '(default outputs/)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='draw predictions above this score (default '
                        '%(default)s)')
    parser.add_argument(
        '--gt', metavar='ANN_FILE',
        help='COCO annotation file: draw the ground truth beside')
    parser.add_argument('--num', type=int,
                        help='only the first N images of a folder')
    parser.add_argument(
        UNSAFE_LOAD_FLAG, action='store_true',
        help='unpickle the checkpoint in full if weights-only loading '
        'refuses it (only for files you trust)')
    parser.add_argument(
        '--slice', type=int, metavar='SIZE',
        help='predict in windows of SIZE px merged by NMS (large images; '
        'use the training tile size)')
    parser.add_argument(
        '--slice-overlap', type=float, default=0.25,
        help='overlap of neighbouring windows, a fraction of SIZE '
        '(default 0.25)')
    parser.add_argument(
        '--device', default='cpu',
        help='where the detector runs: cpu (default), cuda, cuda:1, ...')
    args = parser.parse_args()
    if args.slice is not None and args.slice < 32:
        parser.error(f'--slice {args.slice}: give a window of at least '
                     '32 px (the training tile size)')
    if not 0 <= args.slice_overlap < 1:
        parser.error(f'--slice-overlap {args.slice_overlap}: give a '
                     'fraction in [0, 1)')
    for name in ('image', 'config', 'checkpoint', 'gt'):
        path = getattr(args, name)
        if path is not None and not osp.exists(path):
            parser.error(f'{name} {path} does not exist')
    return args


def list_images(image: str, num: Optional[int]) -> List[str]:
    if osp.isfile(image):
        return [image]
    images = sorted(
        osp.join(image, name) for name in os.listdir(image)
        if name.lower().endswith(IMAGE_SUFFIXES))
    if not images:
        suffixes = ', '.join(IMAGE_SUFFIXES)
        sys.exit(f'error: {image} holds no image ({suffixes})')
    return images[:num] if num else images


def ground_truth(ann_file: str,
                 classes: List[str]) -> Dict[str, InstanceData]:
    """The boxes of each image of a COCO file, by file name, with labels in
    the order of the detector's classes (categories it lacks are left
    out)."""
    with open(ann_file) as handle:
        coco = json.load(handle)
    label_of = {
        category['id']: classes.index(category['name'])
        for category in coco['categories'] if category['name'] in classes
    }
    boxes: Dict[int, list] = {image['id']: [] for image in coco['images']}
    for ann in coco['annotations']:
        if ann['category_id'] in label_of and not ann.get('iscrowd', 0):
            x, y, w, h = ann['bbox']
            boxes[ann['image_id']].append(
                (x, y, x + w, y + h, label_of[ann['category_id']]))
    instances = {}
    for image in coco['images']:
        rows = torch.tensor(boxes[image['id']],
                            dtype=torch.float32).reshape(-1, 5)
        instances[osp.basename(image['file_name'])] = InstanceData(
            bboxes=rows[:, :4], labels=rows[:, 4].long())
    return instances


def caption(drawn: np.ndarray, titles: List[str]) -> np.ndarray:
    """A strip above the drawing naming its panels (left to right)."""
    strip = np.full((CAPTION_HEIGHT, drawn.shape[1], 3), 255, np.uint8)
    width = drawn.shape[1] // len(titles)
    for index, title in enumerate(titles):
        cv2.putText(strip, title, (index * width + 4, CAPTION_HEIGHT - 7),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return np.concatenate((strip, drawn), axis=0)


def output_path(args: argparse.Namespace, image: str, single: bool) -> str:
    if single and args.out and not osp.isdir(args.out):
        return args.out
    folder = args.out or 'outputs'
    return osp.join(folder, osp.splitext(osp.basename(image))[0] + '.png')


def main() -> None:
    args = parse_args()
    if args.unsafe_load:
        allow_unsafe_load()
    inferencer = DetInferencer(
        model=args.config, weights=args.checkpoint, device=args.device,
        show_progress=False)
    classes = list(inferencer.model.dataset_meta['classes'])
    truth = ground_truth(args.gt, classes) if args.gt else {}
    images = list_images(args.image, args.num)
    single = osp.isfile(args.image)
    for image in images:
        pixels = mmcv.imread(image)
        start = time.perf_counter()
        if args.slice:
            sample = predict_sliced(inferencer, pixels, args.slice,
                                    args.slice_overlap)
        else:
            sample: DetDataSample = inferencer(
                pixels, return_datasamples=True,
                no_save_vis=True)['predictions'][0]
        seconds = time.perf_counter() - start
        name = osp.basename(image)
        titles = []
        if name in truth:
            sample.gt_instances = truth[name]
            titles.append(f'ground truth ({len(truth[name])})')
        elif args.gt:
            print(f'warning: {name} is not in {args.gt}; drawing the '
                  'prediction only')
        shown = sample.pred_instances[
            sample.pred_instances.scores > args.score_thr]
        how = f' in {args.slice} px windows' if args.slice else ''
        titles.append(
            f'prediction{how}, score > {args.score_thr} ({len(shown)})')
        inferencer.visualizer.add_datasample(
            name, mmcv.bgr2rgb(pixels), sample,
            draw_gt=name in truth, pred_score_thr=args.score_thr)
        drawn = caption(inferencer.visualizer.get_image(), titles)
        out = output_path(args, image, single)
        mmcv.imwrite(drawn[..., ::-1], out)
        found = ', '.join(
            f'{classes[label]} {score:.2f}'
            for label, score in zip(shown.labels.tolist(),
                                    shown.scores.tolist()))
        print(f'{image}: {len(shown)} detections above {args.score_thr} '
              f'({found or "none"}) in {seconds:.2f} s -> {out}')


if __name__ == '__main__':
    main()
