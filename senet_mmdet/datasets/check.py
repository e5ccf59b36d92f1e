"""Fail before training, with directions, when a config's data is absent."""
import os.path as osp
from typing import Iterator, Sequence, Tuple

from mmengine.config import Config

COCO_HINT = (
    'COCO 2017 comes from https://cocodataset.org/#download ("2017 Train '
    'images", "2017 Val images", "2017 Train/Val annotations"); unpack it '
    'so that {root}annotations/ and {root}train2017/ exist, or point the '
    'config at your copy with --cfg-options {loader}.dataset.data_root='
    '/path/to/coco/ (likewise for the other dataloaders).')


class DatasetNotFoundError(FileNotFoundError):
    """A file or folder that a config's dataset reads does not exist."""


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
    ann_file = dataset.get('ann_file')
    if ann_file:
        yield 'ann_file', osp.join(root, ann_file)
    for key, prefix in (dataset.get('data_prefix') or {}).items():
        if prefix:
            yield f'data_prefix.{key}', osp.join(root, prefix)


def check_dataset_files(cfg: Config, loaders: Sequence[str]) -> None:
    """Raise :class:`DatasetNotFoundError` naming the first missing path.

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
            for what, path in _dataset_paths(dataset):
                if not osp.exists(path):
                    root = dataset.get('data_root') or ''
                    raise DatasetNotFoundError(
                        f'{loader}.dataset.{what}: {path} does not exist '
                        f'(data_root={root!r}, working directory '
                        f'{osp.abspath(".")}). ' +
                        COCO_HINT.format(root=root, loader=loader))
