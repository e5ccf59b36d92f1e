"""A plain MMDetection config (its own Faster R-CNN R-50, no SE) trains
safely under MMDetection's own tools/train.py with the lines that
docs/training.md gives: SIGTERM mid-epoch stops it with status 75 and a
mid-epoch checkpoint, ``--resume`` ends bitwise where an uninterrupted run
ends, and MMDetection's own tools/test.py evaluates both, with no flag."""
import sys
from pathlib import Path

import pytest

from senet_mmdet.datasets import TOY_CLASSES
from .test_preemption import checkpoint_state
from .test_reliability import KILL_AT
from .utils import (REPO, assert_bitwise_equal, metrics, mmdet_tool, run,
                    python_blocks)

pytestmark = pytest.mark.launchers

# MMDetection's R-50 config and the two lines, as docs/training.md shows.
DOCUMENTED = next(block for block in python_blocks(REPO / 'docs' /
                                                   'training.md')
                  if "runner_type = 'SafeRunner'" in block)
# MMDetection's R-50 config shrunk for a CPU: the toy shapes at 128 px,
# 4 iterations of 4 images with 2 persistent workers, random weights.
SHRUNK = '''
data_root = '{root}/'
metainfo = dict(classes={classes!r})
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
train_dataloader = dict(
    batch_size=4, num_workers=2, persistent_workers=True,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='train/'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='val/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
model = dict(
    backbone=dict(init_cfg=None),
    roi_head=dict(bbox_head=dict(num_classes=3)),
    test_cfg=dict(rcnn=dict(score_thr=0.0)))
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
randomness = dict(seed=0)
'''


def test_the_documented_lines_make_a_plain_config_train_safely(
        toy_root, tmp_path):
    config = tmp_path / 'faster-rcnn_r50_fpn_1x_toy-shapes.py'
    config.write_text(DOCUMENTED +
                      SHRUNK.format(root=toy_root, classes=TOY_CLASSES))
    reference, work = tmp_path / 'uninterrupted', tmp_path / 'work'
    run(mmdet_tool('train.py', config, '--work-dir', reference), tmp_path)
    command = mmdet_tool('train.py', config, '--work-dir', work)
    run([sys.executable, str(KILL_AT), 'iteration:2:SIGTERM', *command[1:]],
        tmp_path, returncode=75)
    assert (work / 'last_checkpoint').read_text() == str(
        work / 'epoch_1_iter_2.pth')
    result = run([*command, '--resume'], tmp_path)
    assert 'resuming epoch 1 after its batch 2 of 4' in (result.stdout +
                                                         result.stderr)
    assert_bitwise_equal(checkpoint_state(work / 'epoch_1.pth'),
                         checkpoint_state(reference / 'epoch_1.pth'))
    # The run's copy of the config shows what the two lines switched on.
    dumped = (work / config.name).read_text()
    for component in ('AtomicCheckpointHook', 'StopOnNonFiniteHook',
                      'EpochSeedHook', 'CheckDataHook',
                      'ResumableEpochBasedTrainLoop', 'SkippableBatchSampler',
                      'SeededDataset'):
        assert component in dumped, component
    tested = [tmp_path / 'test_resumed', tmp_path / 'test_reference']
    for run_dir, test_dir in zip((work, reference), tested):
        run(mmdet_tool('test.py', config, run_dir / 'epoch_1.pth',
                       '--work-dir', test_dir), tmp_path)
    assert metrics(tested[0])['metrics'] == metrics(tested[1])['metrics']
