"""AtomicCheckpointHook's arguments and its estimate of a checkpoint's size
(the runs themselves: tests/test_tools/test_preemption.py,
test_reliability.py and test_launchers.py)."""
import logging
import shutil
from types import SimpleNamespace

import pytest
import torch
from mmengine.optim import OptimWrapper

from senet_mmdet.engine import AtomicCheckpointHook


def runner_of(model: torch.nn.Module, optimizer, warnings: list):
    logger = logging.getLogger('atomic-hook-test')
    logger.warning = warnings.append
    return SimpleNamespace(model=model, logger=logger,
                           optim_wrapper=OptimWrapper(optimizer))


@pytest.mark.parametrize('kwargs,message', [
    (dict(mid_epoch_interval=-1), 'mid_epoch_interval=-1: give the '
     'iterations between mid-epoch checkpoints as an int >= 1, or 0'),
    (dict(mid_epoch_interval=2.5), 'mid_epoch_interval=2.5'),
    (dict(save_on_signals=('SIGTERM', 'SIGTEMR')),
     "save_on_signals=('SIGTERM', 'SIGTEMR'): SIGTEMR is not a signal"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(
            ')', r'\)')):
        AtomicCheckpointHook(interval=1, **kwargs)


def test_checkpoint_size_counts_weights_and_optimizer_state():
    model = torch.nn.Linear(100, 10)  # 1010 float32 values: 4040 bytes
    optimizer = torch.optim.AdamW(model.parameters())
    runner = runner_of(model, optimizer, [])
    hook = AtomicCheckpointHook(interval=1)
    # Before the first step: two moments per parameter, estimated.
    assert hook._checkpoint_bytes(runner) == 3 * 4040
    model(torch.rand(2, 100)).sum().backward()
    optimizer.step()
    # After it: AdamW's two moments and a step counter per tensor.
    assert hook._checkpoint_bytes(runner) == 3 * 4040 + 2 * 4


def test_warns_before_training_when_two_checkpoints_do_not_fit(
        tmp_path, monkeypatch):
    warnings = []
    model = torch.nn.Linear(100, 10)
    runner = runner_of(model, torch.optim.SGD(model.parameters(), lr=0.1),
                       warnings)
    hook = AtomicCheckpointHook(interval=1)
    hook.out_dir = str(tmp_path)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, 'disk_usage',
                        lambda path: usage._replace(free=20000))
    hook._warn_if_short_of_space(runner)
    assert warnings == [
        f'{tmp_path} has 20,000 bytes free, less than two checkpoints of '
        'this run (about 24,240 bytes): a save may fail for lack of space '
        '(the run would then stop, keeping the previous checkpoint)'
    ]
    monkeypatch.setattr(shutil, 'disk_usage',
                        lambda path: usage._replace(free=24240))
    hook._warn_if_short_of_space(runner)
    assert len(warnings) == 1
