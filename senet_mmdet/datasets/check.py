"""Fail before training, with directions, when a config's data is absent
or its COCO annotations are broken.

MMDetection silently drops boxes it cannot use and ignores configured class
names that the annotation file lacks; a typo then trains a detector on less
data than intended without a word. These checks name the file and the entry.
"""
import json
import os.path as osp
import warnings
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from .toy import ToyShapesSpec, make_toy_coco

COCO_HINT = (
    'COCO 2017 comes from https://cocodataset.org/#download ("2017 Train '
    'images", "2017 Val images", "2017 Train/Val annotations"); unpack it '
    'so that {root}annotations/ and {root}train2017/ exist, or point the '
    'config at your copy with --cfg-options {loader}.dataset.data_root='
    '/path/to/coco/ (likewise for the other dataloaders).')

# How many bad entries an error or warning lists before "and N more".
MAX_LISTED = 5


class DatasetError(ValueError):
    """A config's dataset is unusable: the message names file and entry."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A file or folder that a config's dataset reads does not exist."""


class DatasetWarning(UserWarning):
    """Annotations that MMDetection would skip without saying so."""


def _listing(entries: List[str]) -> str:
    more = len(entries) - MAX_LISTED
    shown = '; '.join(entries[:MAX_LISTED])
    return shown + (f'; and {more} more' if more > 0 else '')


def _leaf_datasets(dataset: dict) -> Iterator[dict]:
    """The datasets that read files, through wrappers such as
    RepeatDataset (``dataset``) and ConcatDataset (``datasets``)."""
    if 'dataset' in dataset:
        yield from _leaf_datasets(dataset['dataset'])
    elif 'datasets' in dataset:
        for inner in dataset['datasets']:
            yield from _leaf_datasets(inner)
    else:
        yield dataset


def _dataset_paths(dataset: dict) -> Iterator[Tuple[str, str]]:
    """``(what, path)`` for the annotation file and the image folders,
    joined to ``data_root`` as mmengine's BaseDataset joins them."""
    root = dataset.get('data_root') or ''
    if root:
        yield 'data_root', root
    ann_file = dataset.get('ann_file')
    if ann_file:
        yield 'ann_file', osp.join(root, ann_file)
    for key, prefix in (dataset.get('data_prefix') or {}).items():
        if prefix:
            yield f'data_prefix.{key}', osp.join(root, prefix)


def _load_json(path: str) -> dict:
    try:
        with open(path) as file:
            coco = json.load(file)
    except json.JSONDecodeError as error:
        raise DatasetError(
            f'{path}: not valid JSON ({error.msg} at line {error.lineno}, '
            f'column {error.colno}); re-download or re-export the '
            'annotation file') from None
    missing = [
        key for key in ('images', 'annotations', 'categories')
        if not isinstance(coco, dict) or not isinstance(coco.get(key), list)
    ]
    if missing:
        raise DatasetError(
            f'{path}: not a COCO instances file: no {missing} list at the '
            'top level (expected "images", "annotations", "categories")')
    return coco


def _check_classes(path: str, coco: dict,
                   classes: Optional[Sequence[str]]) -> Dict[int, str]:
    """Category id -> name; error if a configured class is not there."""
    categories = {cat.get('id'): cat.get('name') for cat in coco['categories']}
    if classes is None:
        return categories
    absent = [name for name in classes if name not in categories.values()]
    if absent:
        raise DatasetError(
            f'{path}: the config\'s classes {absent} are not categories of '
            f'this file, which has {sorted(map(str, categories.values()))}; '
            'set the dataset\'s metainfo=dict(classes=(...)) to names from '
            'the file (and num_classes in the heads to match)')
    unused = sorted(
        str(name) for name in categories.values() if name not in classes)
    if unused:
        warnings.warn(
            f'{path}: categories {unused} are not among the config\'s '
            'classes; their annotations will be ignored', DatasetWarning)
    return categories


def check_coco_annotations(ann_file: str,
                           img_dir: str,
                           classes: Optional[Sequence[str]] = None) -> None:
    """Check a COCO instances file against its image folder and classes.

    Raises :class:`DatasetError` for malformed JSON, a missing image file,
    configured classes absent from the file, or an annotation whose image or
    category does not exist; warns (:class:`DatasetWarning`) about empty or
    degenerate boxes, which MMDetection skips.
    """
    coco = _load_json(ann_file)
    categories = _check_classes(ann_file, coco, classes)
    image_ids = set()
    missing_images = []
    for image in coco['images']:
        image_ids.add(image.get('id'))
        file_name = image.get('file_name')
        if not file_name or not osp.isfile(osp.join(img_dir, file_name)):
            missing_images.append(
                f'image id {image.get("id")}: '
                f'{osp.join(img_dir, str(file_name))}')
    if missing_images:
        raise DatasetError(
            f'{ann_file}: {len(missing_images)} image file(s) listed in it '
            f'do not exist: {_listing(missing_images)}; check data_prefix '
            'or restore the files')
    broken, degenerate = [], []
    for ann in coco['annotations']:
        entry = (f'annotation id {ann.get("id")} (image id '
                 f'{ann.get("image_id")})')
        bbox = ann.get('bbox')
        if ann.get('image_id') not in image_ids:
            broken.append(f'{entry}: no image with this id')
        elif ann.get('category_id') not in categories:
            broken.append(
                f'{entry}: category_id {ann.get("category_id")} is not in '
                '"categories"')
        elif not (isinstance(bbox, list) and len(bbox) == 4 and all(
                isinstance(v, (int, float)) for v in bbox)):
            broken.append(f'{entry}: bbox {bbox!r} is not [x, y, w, h]')
        elif bbox[2] < 1 or bbox[3] < 1 or ann.get('area', 1) <= 0:
            degenerate.append(f'{entry}: bbox {bbox}')
    if broken:
        raise DatasetError(f'{ann_file}: {len(broken)} broken annotation(s): '
                           f'{_listing(broken)}')
    if degenerate:
        warnings.warn(
            f'{ann_file}: {len(degenerate)} annotation(s) with an empty or '
            f'degenerate box (width or height < 1 px, or area <= 0) will be '
            f'ignored in training: {_listing(degenerate)}', DatasetWarning)


def _coco_classes(dataset: dict) -> Optional[Sequence[str]]:
    """The class names a COCO-style dataset config will use, or None when
    its type is not a :class:`CocoDataset`."""
    dataset_type = DATASETS.get(dataset.get('type', ''))
    if not (isinstance(dataset_type, type)
            and issubclass(dataset_type, CocoDataset)):
        return None
    metainfo = dataset.get('metainfo') or {}
    return metainfo.get('classes') or dataset_type.METAINFO['classes']


def check_dataset_files(cfg: Config, loaders: Sequence[str]) -> None:
    """Raise :class:`DatasetNotFoundError` naming the first missing path,
    then check each COCO-style dataset with :func:`check_coco_annotations`.

    Args:
        cfg: A loaded config.
        loaders: The dataloader keys to check, e.g. ``('train_dataloader',
            'val_dataloader')``; keys that are absent or None are skipped.
    """
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for dataset in _leaf_datasets(loader_cfg['dataset']):
            if dataset.get('type') == 'ToyShapesDataset':
                # Written on first use, here rather than in each worker.
                make_toy_coco(dataset['data_root'],
                              ToyShapesSpec(**dataset.get('toy_spec', {})))
            paths = dict(_dataset_paths(dataset))
            for what, path in paths.items():
                if not osp.exists(path):
                    root = dataset.get('data_root') or ''
                    raise DatasetNotFoundError(
                        f'{loader}.dataset.{what}: {path} does not exist '
                        f'(data_root={root!r}, working directory '
                        f'{osp.abspath(".")}). ' +
                        COCO_HINT.format(root=root, loader=loader))
            classes = _coco_classes(dataset)
            if classes is not None and 'ann_file' in paths:
                check_coco_annotations(
                    paths['ann_file'],
                    paths.get('data_prefix.img',
                              dataset.get('data_root') or ''), classes)
