"""A small, deterministic COCO-format dataset of coloured shapes.

It gives the pipeline something real to learn on a machine without COCO:
image files plus ``instances_{train,val}.json`` with boxes and polygon masks,
several objects per image, some of them overlapping. The same seed always
writes the same files, so AP measured on it is reproducible.

    data_root/
        train/000000.png ...
        val/000000.png ...
        annotations/instances_train.json
        annotations/instances_val.json
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

TOY_CLASSES = ('rectangle', 'ellipse', 'triangle')
TOY_PALETTE = [(220, 20, 60), (0, 128, 255), (60, 180, 75)]


@dataclass(frozen=True)
class ToyShapesSpec:
    """What the generator draws; recorded in each annotation file's
    ``info`` so a folder written with other settings is never reused."""
    num_train: int = 400
    num_val: int = 100
    image_size: int = 256
    min_objects: int = 2
    max_objects: int = 6
    min_size: int = 28
    max_size: int = 96
    # An object stays in the annotations only if this share of its pixels
    # remains visible once later objects are drawn over it.
    min_visible: float = 0.6
    seed: int = 0


def _shape_mask(kind: str, size: int, rng: np.random.Generator,
                box: Tuple[int, int, int, int]) -> np.ndarray:
    """A filled ``kind`` inside ``box`` (x, y, w, h) as a uint8 mask."""
    x, y, w, h = box
    mask = np.zeros((size, size), np.uint8)
    if kind == 'rectangle':
        cv2.rectangle(mask, (x, y), (x + w - 1, y + h - 1), 1, cv2.FILLED)
    elif kind == 'ellipse':
        cv2.ellipse(mask, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0,
                    360, 1, cv2.FILLED)
    else:
        apex = x + int(rng.integers(0, w))
        corners = np.array([[apex, y], [x, y + h - 1], [x + w - 1, y + h - 1]],
                           np.int32)
        cv2.fillPoly(mask, [corners], 1)
    return mask


def _polygons(mask: np.ndarray) -> List[List[float]]:
    """COCO polygons ``[[x1, y1, x2, y2, ...], ...]`` tracing ``mask``."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return [
        contour.reshape(-1).astype(float).tolist() for contour in contours
        if len(contour) >= 3
    ]


def _draw_image(spec: ToyShapesSpec, rng: np.random.Generator
                ) -> Tuple[np.ndarray, List[Tuple[int, np.ndarray]]]:
    """One image and its ``(category index, visible mask)`` objects."""
    size = spec.image_size
    background = rng.integers(0, 256, 3)
    image = np.empty((size, size, 3), np.float32)
    image[:] = background
    image += rng.normal(0, 12, image.shape)
    # Painter's order: label i + 1 marks the pixels where object i is on top.
    labels = np.zeros((size, size), np.int32)
    kinds: List[int] = []
    full_areas: List[int] = []
    wanted = int(rng.integers(spec.min_objects, spec.max_objects + 1))
    for _ in range(10 * wanted):
        if len(kinds) == wanted:
            break
        kind = int(rng.integers(len(TOY_CLASSES)))
        w, h = (int(v) for v in rng.integers(spec.min_size,
                                             spec.max_size + 1, 2))
        x, y = (int(v) for v in rng.integers(0, size - max(w, h), 2))
        mask = _shape_mask(TOY_CLASSES[kind], size, rng, (x, y, w, h))
        candidate = np.where(mask > 0, len(kinds) + 1, labels)
        areas = full_areas + [int(np.count_nonzero(mask))]
        visible = np.bincount(candidate.ravel(), minlength=len(areas) + 1)[1:]
        if (visible < spec.min_visible * np.array(areas)).any():
            continue
        # A colour far from the background keeps every shape findable.
        color = rng.integers(0, 256, 3)
        while np.abs(color - background).sum() < 150:
            color = rng.integers(0, 256, 3)
        image[mask > 0] = color + rng.normal(0, 12, (areas[-1], 3))
        labels = candidate
        kinds.append(kind)
        full_areas.append(areas[-1])
    image = np.clip(image, 0, 255).astype(np.uint8)
    objects = [(kind, (labels == i + 1).astype(np.uint8))
               for i, kind in enumerate(kinds)]
    return image, objects


def _write_split(spec: ToyShapesSpec, split: str, num_images: int,
                 root: str) -> None:
    """Draw ``num_images`` images into ``root/split/`` and write
    ``root/annotations/instances_{split}.json``."""
    # Each split has its own stream, so changing num_val leaves train as is.
    rng = np.random.default_rng([spec.seed, 0 if split == 'train' else 1])
    os.makedirs(osp.join(root, split), exist_ok=True)
    images: List[Dict] = []
    annotations: List[Dict] = []
    for image_id in range(1, num_images + 1):
        image, objects = _draw_image(spec, rng)
        file_name = f'{image_id:06d}.png'
        cv2.imwrite(osp.join(root, split, file_name), image)
        images.append(
            dict(id=image_id, file_name=file_name, width=spec.image_size,
                 height=spec.image_size))
        for kind, mask in objects:
            ys, xs = np.nonzero(mask)
            x1, y1 = int(xs.min()), int(ys.min())
            annotations.append(
                dict(id=len(annotations) + 1, image_id=image_id,
                     category_id=kind + 1,
                     bbox=[x1, y1, int(xs.max()) - x1 + 1,
                           int(ys.max()) - y1 + 1],
                     area=int(mask.sum()), segmentation=_polygons(mask),
                     iscrowd=0))
    coco = dict(
        info=dict(description='senet_mmdet toy shapes', spec=asdict(spec)),
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=name) for i, name in enumerate(TOY_CLASSES)
        ])
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    with open(osp.join(root, 'annotations', f'instances_{split}.json'),
              'w') as file:
        json.dump(coco, file)


def _written_spec(data_root: str) -> Optional[Dict]:
    """The spec recorded in an existing toy folder, or None."""
    path = osp.join(data_root, 'annotations', 'instances_val.json')
    if not osp.isfile(path):
        return None
    with open(path) as file:
        return json.load(file).get('info', {}).get('spec')


def make_toy_coco(data_root: str,
                  spec: ToyShapesSpec = ToyShapesSpec()) -> str:
    """Write the toy dataset to ``data_root`` unless it is already there.

    The folder is written under a temporary name and renamed at the end, so
    an interrupted run leaves no half-written dataset behind, and processes
    that race to create it (one per GPU) all end up reading the same files.

    Returns:
        ``data_root``.
    """
    data_root = osp.abspath(data_root)
    written = _written_spec(data_root)
    if written == asdict(spec):
        return data_root
    if written is not None or (osp.isdir(data_root) and os.listdir(data_root)):
        raise FileExistsError(
            f'{data_root} exists but does not hold the toy dataset for '
            f'{spec}; delete it or pick another data_root')
    parent = osp.dirname(data_root)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix='.toy-', dir=parent)
    try:
        _write_split(spec, 'train', spec.num_train, staging)
        _write_split(spec, 'val', spec.num_val, staging)
        if osp.isdir(data_root) and not os.listdir(data_root):
            os.rmdir(data_root)
        os.rename(staging, data_root)
    except OSError:
        # Another process finished first with the same files.
        if _written_spec(data_root) != asdict(spec):
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return data_root


@DATASETS.register_module()
class ToyShapesDataset(CocoDataset):
    """:class:`CocoDataset` over the toy shapes, written on first use.

    Args:
        toy_spec (dict): :class:`ToyShapesSpec` fields to change, e.g.
            ``dict(num_train=16, num_val=8)`` for a quick test.
        **kwargs: :class:`CocoDataset` arguments; ``data_root`` is where the
            dataset lives (and is written if absent).
    """
    METAINFO = dict(classes=TOY_CLASSES, palette=TOY_PALETTE)

    def __init__(self, *args, toy_spec: Optional[dict] = None, **kwargs):
        data_root = kwargs.get('data_root')
        if not data_root:
            raise ValueError(
                'ToyShapesDataset needs data_root: the folder to read the '
                'toy dataset from (it is written there on first use)')
        make_toy_coco(data_root, ToyShapesSpec(**(toy_spec or {})))
        super().__init__(*args, **kwargs)
