"""End to end on the toy shapes: train and evaluate (killing and resuming:
test_reliability.py; distributed: test_launchers.py).

Every run is short (16 training images, a few iterations per epoch), so the
detectors barely learn; the tests check that the pipeline carries the
numbers through unchanged, not how good they are (``make demo`` does that).
"""
import pickle
import sys
from pathlib import Path

import pytest
import torch

import mmdet

from .utils import MASK, metrics, python_tool, run, tiny_config

# Every test here trains or tests a detector in a subprocess.
pytestmark = pytest.mark.slow


def test_test_writes_coco_metrics_json(trained, tmp_path):
    config, checkpoint = trained
    run(python_tool('test.py', config, checkpoint, '--work-dir', tmp_path),
        tmp_path)
    record = metrics(tmp_path)
    assert record['config'] == str(config)
    assert record['checkpoint'] == str(checkpoint)
    parameters = record['model'].pop('parameters')
    assert record['model'] == dict(
        detector='FasterRCNN', backbone='SEResNet', depth=18, groups=None,
        neck='FPN', shared_head=None)
    # The whole toy detector: SE-ResNet-18, the lean FPN and heads (its
    # plain twin has 89,080 fewer, the SE modules of ResNet-18).
    assert parameters == 12_385_879
    assert {'coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75'} <= set(
        record['metrics'])
    assert all(0 <= record['metrics'][key] <= 1
               for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50'))


@pytest.mark.launchers
def test_mmdet_stock_tools_need_only_custom_imports(tmp_path):
    """MMDetection's own tools/train.py and tools/test.py, shipped inside
    the mmdet package, train and test the toy config: custom_imports
    registers everything and the toy set is written on first use by the
    dataset itself. Trained by mmengine's plain Runner (none of our
    components), the checkpoint is mmengine's own, message hub history
    included; once custom_imports has imported senet_mmdet it still loads
    weights-only, with no flag."""
    tools = Path(mmdet.__file__).parent / '.mim' / 'tools'
    config = tiny_config(tmp_path, tmp_path / 'fresh_toy')
    work = tmp_path / 'work'
    result = run([
        sys.executable,
        str(tools / 'train.py'),
        str(config), '--work-dir',
        str(work), '--cfg-options', 'runner_type=Runner'
    ], tmp_path)
    assert 'coco/bbox_mAP' in result.stdout + result.stderr
    assert (tmp_path / 'fresh_toy' / 'annotations' /
            'instances_val.json').is_file()
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(work / 'epoch_1.pth', weights_only=True)
    result = run([
        sys.executable,
        str(tools / 'test.py'),
        str(config),
        str(work / 'epoch_1.pth'), '--work-dir',
        str(tmp_path / 'test')
    ], tmp_path)
    assert 'coco/bbox_mAP' in result.stdout + result.stderr


def test_mask_rcnn_toy_reports_bbox_and_segm_ap(toy_root, tmp_path):
    config = tiny_config(tmp_path, toy_root, base=MASK)
    run(python_tool('train.py', config, '--work-dir', tmp_path), tmp_path)
    run(python_tool('test.py', config, tmp_path / 'epoch_1.pth',
                    '--work-dir', tmp_path), tmp_path)
    record = metrics(tmp_path)
    assert record['model']['detector'] == 'MaskRCNN'
    for key in ('coco/bbox_mAP', 'coco/segm_mAP', 'coco/segm_mAP_50'):
        assert 0 <= record['metrics'][key] <= 1
