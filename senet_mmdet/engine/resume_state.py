"""What a checkpoint written in the middle of an epoch holds so that the
run goes on from its next batch with the same random numbers."""
from typing import Optional

from mmengine.dist import all_gather_object, get_rank, get_world_size

from senet_mmdet.randomness import random_states
from .checkpoint import CheckpointError
from .loops import ResumableEpochBasedTrainLoop

# Where a mid-epoch checkpoint keeps what resuming needs (in its meta).
RESUME_KEY = 'senet_mmdet_resume'
# A checkpoint written within an epoch: the epoch in progress (from 1) and
# the iterations done (as in mmengine's iter_N.pth).
MID_EPOCH_TEMPLATE = 'epoch_{}_iter_{}.pth'


def mid_epoch_meta(epoch: int, done: int, batches: int) -> dict:
    """The meta of a checkpoint after ``batches`` batches of epoch
    ``epoch + 1`` (``done`` iterations in all): mmengine's epoch and
    iteration, and every rank's random generators (their states differ
    once the data do). A collective: every rank calls it."""
    states = all_gather_object(random_states())
    return {
        'epoch': epoch,
        'iter': done,
        RESUME_KEY: dict(batches=batches, random_states=states)
    }


def resume_state(checkpoint: dict) -> Optional[dict]:
    """The mid-epoch state of a loaded checkpoint, or None."""
    return checkpoint.get('meta', {}).get(RESUME_KEY)


def resume_within_epoch(runner, state: dict) -> None:
    """Make the runner's loop go on after the batches ``state`` counts,
    with this rank's generators as they were (another number of processes:
    the same batch, with the generators as the epoch starts them, and a
    warning)."""
    if not isinstance(runner.train_loop, ResumableEpochBasedTrainLoop):
        raise CheckpointError(
            'the checkpoint was written in the middle of an epoch; '
            "resuming it needs train_cfg.type='ResumableEpochBasedTrain"
            "Loop' (runner_type='SafeRunner' sets it)")
    states = state['random_states']
    if len(states) != get_world_size():
        runner.logger.warning(
            f'the checkpoint was written by {len(states)} processes and '
            f'this run has {get_world_size()}: it resumes at the same '
            'batch, but with other random numbers than an '
            'uninterrupted run')
        states = [None] * get_world_size()
    runner.train_loop.resume_within_epoch(state['batches'],
                                          states[get_rank()])
    runner.logger.info(
        f'resuming epoch {runner.epoch + 1} after its batch '
        f'{state["batches"]} of {len(runner.train_dataloader)}')
