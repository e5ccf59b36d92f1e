"""Sliced inference: a detector trained on tiles, run on an image many times
larger, tile by tile, and the predictions merged.

MMDetection's own large-image path (its ``demo/large_image_demo.py``):
predict each window with ``DetInferencer``, shift the boxes back and merge
overlapping duplicates with non-maximum suppression
(``mmdet.utils.large_image.merge_results_by_nms``, which needs SAHI). The
windows are those of :func:`senet_mmdet.datasets.tile_windows`, the grid the
training tiles were cut on.
"""
from typing import Optional

import numpy as np

from mmdet.apis import DetInferencer
from mmdet.structures import DetDataSample
from senet_mmdet.datasets import tile_windows


def predict_sliced(inferencer: DetInferencer,
                   image: np.ndarray,
                   size: int,
                   overlap: float = 0.25,
                   nms_iou: Optional[float] = None,
                   batch_size: int = 4) -> DetDataSample:
    """Predict a BGR ``image`` (as ``mmcv.imread`` reads it) in windows of
    ``size`` px overlapping by ``overlap``, merged by class-wise NMS at IoU
    ``nms_iou`` (default: the detector's own ``test_cfg.rcnn.nms``, or
    0.5). Boxes are in the whole image's pixels."""
    from mmdet.utils.large_image import merge_results_by_nms
    height, width = image.shape[:2]
    windows = tile_windows(width, height, size, overlap)
    crops = [image[y1:y2, x1:x2] for x1, y1, x2, y2 in windows]
    results = inferencer(crops, batch_size=batch_size,
                         return_datasamples=True,
                         no_save_vis=True)['predictions']
    if nms_iou is None:
        rcnn = inferencer.cfg.model.get('test_cfg', {}).get('rcnn') or {}
        nms_iou = (rcnn.get('nms') or {}).get('iou_threshold', 0.5)
    merged = merge_results_by_nms(
        results, [(x1, y1) for x1, y1, _, _ in windows], (height, width),
        nms_cfg=dict(type='nms', iou_threshold=nms_iou))
    merged.set_metainfo(dict(ori_shape=(height, width),
                             img_shape=(height, width)))
    return merged
