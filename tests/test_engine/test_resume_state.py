"""A mid-epoch checkpoint's state resumes only with the resumable loop,
and with another number of processes at the same batch, with a warning."""
from types import SimpleNamespace

import pytest
from mmengine.dataset import DefaultSampler
from mmengine.runner import EpochBasedTrainLoop

from senet_mmdet.datasets import SkippableBatchSampler
from senet_mmdet.engine import CheckpointError, ResumableEpochBasedTrainLoop
from senet_mmdet.engine.resume_state import resume_within_epoch


def test_a_mid_epoch_checkpoint_needs_the_resumable_loop():
    """Resumed by mmengine's own loop, it would start its epoch over: the
    hook refuses, naming the loop to use."""
    runner = SimpleNamespace(train_loop=EpochBasedTrainLoop.__new__(
        EpochBasedTrainLoop))
    with pytest.raises(CheckpointError) as error:
        resume_within_epoch(runner, dict(batches=2, random_states=[None]))
    assert str(error.value) == (
        'the checkpoint was written in the middle of an epoch; resuming it '
        "needs train_cfg.type='ResumableEpochBasedTrainLoop' "
        "(runner_type='SafeRunner' sets it)")


def test_another_number_of_processes_resumes_the_batch_with_a_warning():
    """A checkpoint of 2 processes resumed by 1: the same batch, the
    generators as the epoch starts them, and a warning that says so."""
    loop = ResumableEpochBasedTrainLoop.__new__(ResumableEpochBasedTrainLoop)
    batches = SkippableBatchSampler(DefaultSampler(list(range(8))), 2)
    loop.dataloader = SimpleNamespace(batch_sampler=batches)
    warnings, infos = [], []
    runner = SimpleNamespace(
        train_loop=loop, epoch=1, train_dataloader=list(range(4)),
        logger=SimpleNamespace(warning=warnings.append, info=infos.append))
    resume_within_epoch(runner, dict(batches=3, random_states=[{}, {}]))
    assert warnings == [
        'the checkpoint was written by 2 processes and this run has 1: it '
        'resumes at the same batch, but with other random numbers than an '
        'uninterrupted run'
    ]
    assert infos == ['resuming epoch 2 after its batch 3 of 4']
    assert (loop._resume_batches, loop._resume_states) == (3, None)
