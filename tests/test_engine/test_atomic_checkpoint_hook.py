"""AtomicCheckpointHook's arguments, its estimate of a checkpoint's size
and what a restart in place after a signal does (the runs themselves:
tests/test_tools/test_preemption.py, test_reliability.py and
test_launchers.py)."""
import logging
import shutil
from types import SimpleNamespace

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.runner import EpochBasedTrainLoop

from senet_mmdet.engine import (AtomicCheckpointHook, CheckpointError,
                                TrainingInterrupted)


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


def test_a_mid_epoch_checkpoint_needs_the_resumable_loop():
    """Resumed by mmengine's own loop, it would start its epoch over: the
    hook refuses, naming the loop to use."""
    runner = SimpleNamespace(train_loop=EpochBasedTrainLoop.__new__(
        EpochBasedTrainLoop))
    with pytest.raises(CheckpointError) as error:
        AtomicCheckpointHook(interval=1)._resume_within_epoch(
            runner, dict(batches=2, random_states=[None]))
    assert str(error.value) == (
        'the checkpoint was written in the middle of an epoch; resuming it '
        "needs train_cfg.type='ResumableEpochBasedTrainLoop' (senet_mmdet's "
        'tools/train.py sets it)')


def test_another_number_of_processes_resumes_the_batch_with_a_warning():
    """A checkpoint of 2 processes resumed by 1: the same batch, the
    generators as the epoch starts them, and a warning that says so."""
    from mmengine.dataset import DefaultSampler

    from senet_mmdet.datasets import SkippableBatchSampler
    from senet_mmdet.engine import ResumableEpochBasedTrainLoop
    loop = ResumableEpochBasedTrainLoop.__new__(ResumableEpochBasedTrainLoop)
    batches = SkippableBatchSampler(DefaultSampler(list(range(8))), 2)
    loop.dataloader = SimpleNamespace(batch_sampler=batches)
    warnings, infos = [], []
    runner = SimpleNamespace(
        train_loop=loop, epoch=1, train_dataloader=list(range(4)),
        logger=SimpleNamespace(warning=warnings.append, info=infos.append))
    AtomicCheckpointHook(interval=1)._resume_within_epoch(
        runner, dict(batches=3, random_states=[{}, {}]))
    assert warnings == [
        'the checkpoint was written by 2 processes and this run has 1: it '
        'resumes at the same batch, but with other random numbers than an '
        'uninterrupted run'
    ]
    assert infos == ['resuming epoch 2 after its batch 3 of 4']
    assert (loop._resume_batches, loop._resume_states) == (3, None)


def test_a_restart_in_place_after_a_signal_stops_again(tmp_path,
                                                       monkeypatch):
    """torchrun restarts workers that stopped with status 75; they stop
    again before training. A new job (restart count 0, or no torchrun)
    trains, and forgets the stop."""
    runner = SimpleNamespace(work_dir=str(tmp_path),
                             cfg=SimpleNamespace(filename='c.py'))
    hook = AtomicCheckpointHook(interval=1)
    hook.last_ckpt = f'{tmp_path}/epoch_2_iter_3.pth'
    # Not in the test process: a stopped run ignores its signals.
    monkeypatch.setattr(hook.stop_requests, 'ignore', lambda: None)
    with pytest.raises(TrainingInterrupted):
        hook._stop(runner, 'SIGTERM', 'iteration 3 (epoch 2, batch 1)')
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', '1')
    with pytest.raises(TrainingInterrupted) as stopped:
        hook._stop_a_restart_after_a_stop(runner)
    assert str(stopped.value) == (
        'SIGTERM stopped this job after iteration 3 (epoch 2, batch 1) and '
        'the launcher restarted it in place (restart 1): not training '
        'again, since a signal asks the job to stop. Start a new job with '
        f'--resume to go on from {tmp_path}/epoch_2_iter_3.pth')
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', '0')
    hook._stop_a_restart_after_a_stop(runner)
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', '1')
    hook._stop_a_restart_after_a_stop(runner)
