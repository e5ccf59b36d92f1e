"""An epoch-based training loop that resumes in the middle of an epoch."""
from typing import Any, Dict, Optional

from mmengine.runner import EpochBasedTrainLoop

from mmdet.registry import LOOPS
from senet_mmdet.datasets.samplers import SkippableBatchSampler
from senet_mmdet.datasets.seeding import SeededDataset
from senet_mmdet.randomness import random_states, set_random_states


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` (same arguments), whose data
    augmentation is a function of the run's seed, the epoch and the sample,
    and which can go on from the middle of an epoch.

    With the dataloader's batch sampler a :class:`SkippableBatchSampler`
    and its dataset a :class:`SeededDataset` (what
    :class:`~senet_mmdet.engine.SafeRunner` configures), each sample is
    loaded with generators seeded from (seed, epoch, index)
    (:mod:`senet_mmdet.randomness`), in the main process or any worker,
    persistent or not; the main process's generators, from which the model
    draws (RPN and RoI sampling), are left as they were. So the number of
    workers does not change a run, and nothing about the workers has to be
    in a checkpoint.

    mmengine resumes an epoch-based run only at an epoch boundary: a
    checkpoint written in the middle of epoch ``e`` restarts epoch ``e``
    from its first batch. After :meth:`resume_within_epoch`, the next epoch
    starts at batch ``k`` instead: the sampler leaves out the ``k`` batches
    already trained without loading them, the batch indices the hooks see
    continue at ``k``, and the main process's generators are put back to
    where they were after batch ``k - 1``.
    """

    def __init__(self, runner, dataloader, *args, **kwargs) -> None:
        super().__init__(runner, dataloader, *args, **kwargs)
        self._resume_batches = 0
        self._resume_states: Optional[Dict[str, Any]] = None
        self._seeded = isinstance(
            self.dataloader.batch_sampler, SkippableBatchSampler) and (
                isinstance(self.dataloader.dataset, SeededDataset))
        if not self._seeded:
            runner.logger.warning(
                'the training dataloader\'s batch_sampler is not a '
                'SkippableBatchSampler over a SeededDataset: its workers '
                'augment with their own generators, so the run depends on '
                'num_workers and cannot resume within an epoch '
                "(runner_type='SafeRunner' configures both)")

    def resume_within_epoch(self, batches: int,
                            states: Optional[Dict[str, Any]]) -> None:
        """Start the next epoch at batch ``batches``, with the random
        generators in ``states`` (None: leave them as the epoch's start
        sets them)."""
        if not isinstance(self.dataloader.batch_sampler,
                          SkippableBatchSampler):
            raise TypeError(
                'resuming in the middle of an epoch needs the training '
                "dataloader's batch_sampler wrapped in "
                "dict(type='SkippableBatchSampler', batch_sampler=...), "
                "which runner_type='SafeRunner' does; the dataloader "
                f'has {type(self.dataloader.batch_sampler).__name__}')
        self._resume_batches = batches
        self._resume_states = states

    def run_epoch(self) -> None:
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        start, self._resume_batches = self._resume_batches, 0
        if isinstance(self.dataloader.batch_sampler, SkippableBatchSampler):
            self.dataloader.batch_sampler.skip_next(start)
        if self._seeded:
            self.dataloader.batch_sampler.seed_samples(
                self.runner.seed, self._epoch)
        states = random_states()
        batches = iter(self.dataloader)
        # Starting the iterator draws the workers' base seed from torch's
        # generator, except when it reuses persistent workers: undone, so
        # the main process draws alike with any workers.
        set_random_states(self._resume_states or states)
        self._resume_states = None
        for index, data_batch in enumerate(batches, start):
            self.run_iter(index, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
