"""End to end on the toy shapes: train, distribute, evaluate (killing and
resuming: test_reliability.py).

Every run is short (16 training images, a few iterations per epoch), so the
detectors barely learn; the tests check that the pipeline carries the
numbers through unchanged, not how good they are (``make demo`` does that).
"""
import os
import pickle
import sys
from pathlib import Path

import numpy as np

import mmdet

from .utils import (MASK, TOOLS, free_port, metrics, python_tool,
                    run, tiny_config)


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


def test_distributed_train_and_test_match_a_single_process(
        trained, toy_root, tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()))
    config = tiny_config(tmp_path, toy_root)
    result = run([
        'bash', str(TOOLS / 'dist_train.sh'), config, '2', '--work-dir',
        tmp_path / 'train'
    ], tmp_path, env=env)
    log = result.stdout + result.stderr
    assert 'Distributed training: True' in log
    # 16 images, 4 per process and step: 2 processes take 2 steps an epoch.
    assert 'Epoch(train) [1][2/2]' in log
    checkpoint = tmp_path / 'train' / 'epoch_1.pth'
    assert checkpoint.is_file()

    env['PORT'] = str(free_port())
    run([
        'bash', str(TOOLS / 'dist_test.sh'), config, checkpoint, '2',
        '--work-dir', tmp_path / 'dist', '--out', tmp_path / 'dist.pkl'
    ], tmp_path, env=env)
    run(python_tool('test.py', config, checkpoint, '--work-dir',
                    tmp_path / 'single', '--out', tmp_path / 'single.pkl'),
        tmp_path)

    dist = metrics(tmp_path / 'dist')['metrics']
    single = metrics(tmp_path / 'single')['metrics']
    assert dist == single
    # Metrics that agree by accident would not make the predictions agree:
    # both runs saw every val image once, and detected the same boxes.
    with open(tmp_path / 'dist.pkl', 'rb') as file:
        dist_results = sorted(pickle.load(file), key=lambda r: r['img_id'])
    with open(tmp_path / 'single.pkl', 'rb') as file:
        single_results = sorted(pickle.load(file), key=lambda r: r['img_id'])
    assert [r['img_id'] for r in dist_results] == list(range(1, 9))
    assert [r['img_id'] for r in single_results] == list(range(1, 9))
    boxes = 0
    for a, b in zip(dist_results, single_results):
        np.testing.assert_allclose(a['pred_instances']['bboxes'],
                                   b['pred_instances']['bboxes'], atol=1e-4)
        np.testing.assert_allclose(a['pred_instances']['scores'],
                                   b['pred_instances']['scores'], atol=1e-5)
        boxes += len(a['pred_instances']['bboxes'])
    assert boxes > 0


def test_mmdet_stock_train_tool_needs_only_custom_imports(tmp_path):
    """MMDetection's own tools/train.py, shipped inside the mmdet package,
    trains the toy config: custom_imports registers everything, and the
    toy set is written on first use by the dataset itself."""
    stock = Path(mmdet.__file__).parent / '.mim' / 'tools' / 'train.py'
    config = tiny_config(tmp_path, tmp_path / 'fresh_toy')
    result = run([
        sys.executable,
        str(stock),
        str(config), '--work-dir',
        str(tmp_path / 'work')
    ], tmp_path)
    assert 'coco/bbox_mAP' in result.stdout + result.stderr
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
    assert (tmp_path / 'fresh_toy' / 'annotations' /
            'instances_val.json').is_file()


def test_mask_rcnn_toy_reports_bbox_and_segm_ap(toy_root, tmp_path):
    config = tiny_config(tmp_path, toy_root, base=MASK)
    run(python_tool('train.py', config, '--work-dir', tmp_path), tmp_path)
    run(python_tool('test.py', config, tmp_path / 'epoch_1.pth',
                    '--work-dir', tmp_path), tmp_path)
    record = metrics(tmp_path)
    assert record['model']['detector'] == 'MaskRCNN'
    for key in ('coco/bbox_mAP', 'coco/segm_mAP', 'coco/segm_mAP_50'):
        assert 0 <= record['metrics'][key] <= 1
