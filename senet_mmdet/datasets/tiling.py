"""Large images into training tiles, split by source image.

A detector trained on tiles sees objects at their native size, which a
resized whole image of thousands of pixels would shrink below the smallest
anchor. The window grid is SAHI's (``sahi.slicing.get_slice_bboxes``: equal
tiles, the last row and column moved back inside the image), the same grid
that ``tools/demo.py --slice`` predicts on, so a model sees the same kind of
tiles in training and in sliced inference.

A box cut by a tile edge follows :class:`TileRule`: kept, clipped, when at
least ``min_visible`` of its area lies inside the tile and both clipped sides
are at least ``min_side`` px; otherwise, if any of it is inside, kept as an
ignored region (COCO ``iscrowd=1``): training does not use it as a box, and
COCO evaluation neither demands it nor counts a detection on it as a false
positive. Nothing is dropped silently: :func:`tile_coco` returns the counts.

Splits are made between source images (:func:`split_by_source`) before any
tiling, so that no validation tile shares pixels, or a source image, with a
training tile. The validation images are named one by one, in a list file
(:func:`read_image_list`: one name per line, as VOC's
``ImageSets/Main/val.txt``, which :func:`voc_image_sets` finds), or drawn as
a fraction of the source images with a seed (:func:`draw_val_images`).
"""
import copy
import os
import os.path as osp
import random
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from .check import DatasetError


@dataclass(frozen=True)
class TileRule:
    """Which cut boxes a tile keeps as boxes (see the module docstring)."""
    min_visible: float = 0.5
    min_side: float = 8.0

    def __post_init__(self):
        if not 0 < self.min_visible <= 1:
            raise ValueError(f'min_visible={self.min_visible}: give a '
                             'fraction of the box area in (0, 1]')
        if self.min_side < 1:
            raise ValueError(f'min_side={self.min_side}: give at least 1 px')


def tile_windows(width: int, height: int, size: int,
                 overlap: float) -> List[Tuple[int, int, int, int]]:
    """``(x1, y1, x2, y2)`` windows of ``size`` px (smaller only where the
    image is) covering the image, neighbours overlapping by ``overlap`` of
    a tile: SAHI's grid."""
    try:
        from sahi.slicing import get_slice_bboxes
    except ImportError as error:
        raise ImportError(
            f'tiling needs SAHI ({error}): pip install sahi==0.12.8') from None
    if not 0 <= overlap < 1:
        raise ValueError(f'overlap={overlap}: give a fraction in [0, 1)')
    return [
        tuple(window) for window in get_slice_bboxes(
            height, width, size, size, False, overlap, overlap)
    ]


def cut_box(bbox: Sequence[float], window: Sequence[int],
            rule: TileRule) -> Tuple[List[float], bool]:
    """The part of a COCO ``[x, y, w, h]`` box inside ``window``, in the
    window's coordinates, and whether the rule keeps it as a box (False:
    an ignored region); ``([], False)`` when none of it is inside."""
    x, y, w, h = bbox
    wx1, wy1, wx2, wy2 = window
    x1, y1 = max(x, wx1), max(y, wy1)
    x2, y2 = min(x + w, wx2), min(y + h, wy2)
    if x2 <= x1 or y2 <= y1:
        return [], False
    inside = [x1 - wx1, y1 - wy1, x2 - x1, y2 - y1]
    kept = ((x2 - x1) * (y2 - y1) >= rule.min_visible * w * h
            and min(x2 - x1, y2 - y1) >= rule.min_side)
    return inside, kept


def read_image_list(path: str) -> List[str]:
    """The image names of a list file: one per line, blank lines and lines
    starting with ``#`` skipped. A name is a file name as in the annotation
    file or its stem, as VOC's ``ImageSets/Main/*.txt`` write them."""
    if not osp.isfile(path):
        raise DatasetError(f'{path}: no such list file; give a text file '
                           'with one image name per line')
    with open(path) as handle:
        names = [line.strip() for line in handle]
    names = [name for name in names if name and not name.startswith('#')]
    several = [name for name in names if len(name.split()) > 1]
    if several:
        raise DatasetError(
            f'{path}: lines {several[:3]} hold more than one name (a VOC '
            'per-class list such as ImageSets/Main/cat_val.txt?); give a '
            'list with one image name per line, such as ImageSets/Main/'
            'val.txt')
    if not names:
        raise DatasetError(f'{path}: lists no image; write one image name '
                           'per line')
    return names


def voc_image_sets(image_dir: str) -> Dict[str, str]:
    """VOC's split lists beside an image folder: ``{'train': path, 'val':
    path}`` for those of ``IMAGE_DIR/../ImageSets/Main/{train,val}.txt``
    that exist (VOC's layout: ``JPEGImages/`` beside ``ImageSets/``)."""
    folder = osp.join(osp.dirname(osp.abspath(image_dir)), 'ImageSets',
                      'Main')
    return {split: osp.join(folder, f'{split}.txt')
            for split in ('train', 'val')
            if osp.isfile(osp.join(folder, f'{split}.txt'))}


def file_names_of(coco: dict, names: Sequence[str], where: str) -> List[str]:
    """The annotation file's ``file_name`` of each name, which is a file
    name as there or its stem; a name that is neither is an error naming
    ``where`` it came from."""
    by_stem: Dict[str, List[str]] = {}
    files = [image['file_name'] for image in coco['images']]
    for file_name in files:
        stem = osp.splitext(osp.basename(file_name))[0]
        by_stem.setdefault(stem, []).append(file_name)
    found, unknown = [], []
    for name in names:
        if name in files:
            found.append(name)
        elif len(by_stem.get(name, [])) == 1:
            found.append(by_stem[name][0])
        else:
            unknown.append(name)
    if unknown:
        raise DatasetError(
            f'{where}: {unknown[:10]} ({len(unknown)} names) are not images '
            f'of the annotation file, which lists {sorted(files)[:10]}'
            f'{" ..." if len(files) > 10 else ""}; name them as its '
            'file_name does, or by the file name without its extension')
    return found


def draw_val_images(coco: dict, fraction: float, seed: int) -> List[str]:
    """``round(fraction x number of images)`` source images (at least one,
    and at least one left for training), drawn with ``seed`` from the
    images in file-name order, so that the same file, fraction and seed
    give the same split on any machine."""
    if not 0 < fraction < 1:
        raise DatasetError(f'validation fraction {fraction}: give a '
                           'fraction between 0 and 1, such as 0.2')
    files = sorted(image['file_name'] for image in coco['images'])
    if len(files) < 2:
        raise DatasetError(f'the annotation file lists {len(files)} image'
                           f'{"" if len(files) == 1 else "s"}; a split '
                           'needs at least two source images')
    count = min(max(1, round(fraction * len(files))), len(files) - 1)
    return sorted(random.Random(seed).sample(files, count))


def split_by_source(coco: dict, val_files: Sequence[str],
                    train_files: Optional[Sequence[str]] = None
                    ) -> Tuple[dict, dict]:
    """Two COCO dicts: the images not named in ``val_files`` (file names as
    in ``coco``), or only those of ``train_files`` where it is given, and
    the images of ``val_files``, each with its own annotations."""
    names = {image['file_name'] for image in coco['images']}
    for split, files in (('validation', val_files),
                         ('training', train_files or [])):
        unknown = [name for name in files if name not in names]
        if unknown:
            raise DatasetError(
                f'{split} images {unknown} are not in the annotation file, '
                f'which lists {sorted(names)}; name them as its file_name '
                'does')
    both = sorted(set(val_files) & set(train_files or []))
    if both:
        raise DatasetError(f'{both} are listed for both training and '
                           'validation; give each source image one split')
    training = names - set(val_files) if train_files is None else set(
        train_files)
    if not training:
        raise DatasetError('every image is a validation image; leave at '
                           'least one source image for training')
    parts = []
    for split in (training, set(val_files)):
        images = [image for image in coco['images']
                  if image['file_name'] in split]
        ids = {image['id'] for image in images}
        parts.append(dict(
            images=images, categories=coco['categories'],
            annotations=[ann for ann in coco['annotations']
                         if ann['image_id'] in ids]))
    return parts[0], parts[1]


def tile_coco(coco: dict, image_dir: str, out_dir: str, size: int,
              overlap: float, rule: TileRule = TileRule(),
              keep_empty: bool = False) -> Tuple[dict, Dict[str, int]]:
    """Cut every image of ``coco`` (in ``image_dir``) into tiles written as
    PNG to ``out_dir``; returns their COCO dict (each image records its
    ``source`` file and ``offset``) and counts: ``tiles``, ``empty``
    (tiles without a kept box, written only with ``keep_empty``), ``kept``,
    ``clipped`` (kept, cut by the edge) and ``ignored`` box parts."""
    import cv2
    os.makedirs(out_dir, exist_ok=True)
    tiled = dict(images=[], annotations=[],
                 categories=copy.deepcopy(coco['categories']))
    counts = dict(tiles=0, empty=0, kept=0, clipped=0, ignored=0)
    by_image: Dict[int, List[dict]] = {}
    for ann in coco['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    for image in coco['images']:
        path = osp.join(image_dir, image['file_name'])
        pixels = cv2.imread(path, cv2.IMREAD_COLOR)
        if pixels is None:
            raise DatasetError(f'{path}: cannot be read as an image; '
                               'restore the file or remove its entry')
        height, width = pixels.shape[:2]
        stem = osp.splitext(osp.basename(image['file_name']))[0]
        for window in tile_windows(width, height, size, overlap):
            anns = []
            for ann in by_image.get(image['id'], []):
                inside, kept = cut_box(ann['bbox'], window, rule)
                if inside:
                    anns.append(dict(
                        category_id=ann['category_id'], bbox=inside,
                        area=inside[2] * inside[3],
                        iscrowd=int(bool(ann.get('iscrowd', 0)) or not kept),
                        clipped=inside[2:] != ann['bbox'][2:]))
            boxes = [ann for ann in anns if not ann['iscrowd']]
            if not boxes:
                counts['empty'] += 1
                if not keep_empty:
                    continue
            counts['tiles'] += 1
            counts['kept'] += len(boxes)
            counts['clipped'] += sum(ann['clipped'] for ann in boxes)
            counts['ignored'] += len(anns) - len(boxes)
            x1, y1, x2, y2 = window
            name = f'{stem}_{x1}_{y1}.png'
            cv2.imwrite(osp.join(out_dir, name), pixels[y1:y2, x1:x2])
            tile_id = len(tiled['images']) + 1
            tiled['images'].append(dict(
                id=tile_id, file_name=name, width=x2 - x1, height=y2 - y1,
                source=image['file_name'], offset=[x1, y1]))
            for ann in anns:
                del ann['clipped']
                ann.update(id=len(tiled['annotations']) + 1,
                           image_id=tile_id)
                tiled['annotations'].append(ann)
    return tiled, counts
