"""SafeRunner: the components it writes into a config, in mmengine's keys,
and that MMDetection's tools find it by its runner_type."""
from pathlib import Path

from mmengine.config import Config
from mmengine.registry import RUNNERS

from senet_mmdet.engine import SafeRunner, safe_config

REPO = Path(__file__).parents[2]
TOY = REPO / 'configs' / 'toy' / 'faster-rcnn_se-r18_fpn-lean_8e_toy-shapes.py'
ITERATION_BASED = (REPO / 'configs' / 'senet' /
                   'faster-rcnn_r50-caffe_fpn_tpami-table7-2x_coco.py')
SAFE_HOOKS = ['StopOnNonFiniteHook', 'EpochSeedHook', 'CheckDataHook',
              'DumpMetricsHook']


def test_mmdet_tools_find_the_runner_before_any_scope_exists():
    """MMDetection's tools call RUNNERS.build(cfg) on mmengine's root
    registry, with no default scope yet."""
    assert RUNNERS.get('SafeRunner') is SafeRunner


def test_an_epoch_based_config_gets_every_component():
    cfg = Config.fromfile(TOY)
    safe = safe_config(cfg)
    assert safe.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert [hook.type for hook in safe.custom_hooks] == SAFE_HOOKS
    assert safe.train_cfg == dict(cfg.train_cfg,
                                  type='ResumableEpochBasedTrainLoop')
    loader = safe.train_dataloader
    assert loader.batch_sampler == dict(type='SkippableBatchSampler',
                                        batch_sampler=cfg.train_dataloader
                                        .batch_sampler)
    assert loader.dataset == dict(type='SeededDataset',
                                  dataset=cfg.train_dataloader.dataset)
    # The rest as it was, the config given untouched, and a second pass
    # changes nothing.
    assert {key: value for key, value in loader.items()
            if key not in ('batch_sampler', 'dataset')} == {
                key: value for key, value in cfg.train_dataloader.items()
                if key not in ('batch_sampler', 'dataset')}
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop'
    assert safe_config(safe).to_dict() == safe.to_dict()
    assert safe.filename == cfg.filename


def test_components_written_by_hand_keep_their_arguments():
    cfg = Config.fromfile(TOY)
    cfg.custom_hooks = [dict(type='CheckDataHook', check_images=True),
                        dict(type='EMAHook')]
    safe = safe_config(cfg)
    assert safe.custom_hooks == [
        dict(type='CheckDataHook', check_images=True), dict(type='EMAHook'),
        dict(type='StopOnNonFiniteHook'), dict(type='EpochSeedHook'),
        dict(type='DumpMetricsHook')]


def test_an_iteration_based_config_keeps_its_loop_and_data():
    cfg = Config.fromfile(ITERATION_BASED)
    safe = safe_config(cfg)
    assert safe.train_cfg == cfg.train_cfg
    assert safe.train_dataloader == cfg.train_dataloader
    assert safe.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
