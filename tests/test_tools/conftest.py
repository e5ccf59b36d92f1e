"""Fixtures shared by the tool tests: one small toy set and one trained
checkpoint for the whole session, since training is the slow part."""
import pytest

from senet_mmdet.datasets import ToyShapesSpec, make_toy_coco
from .utils import SPEC, python_tool, run, tiny_config


@pytest.fixture(scope='session')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('pipeline') / 'toy'
    make_toy_coco(str(root), ToyShapesSpec(**SPEC))
    return root


@pytest.fixture(scope='session')
def trained(tmp_path_factory, toy_root):
    """One epoch of the toy Faster R-CNN, trained with tools/train.py
    ``--tensorboard``; its work dir holds the JSON and TensorBoard logs."""
    folder = tmp_path_factory.mktemp('trained')
    config = tiny_config(folder, toy_root)
    run(python_tool('train.py', config, '--work-dir', folder / 'work',
                    '--tensorboard'), folder)
    return config, folder / 'work' / 'epoch_1.pth'
