"""An epoch-based training loop that resumes in the middle of an epoch."""
import random
from typing import Any, Dict, Optional

import numpy as np
import torch
from mmengine.runner import EpochBasedTrainLoop

from mmdet.registry import LOOPS
from senet_mmdet.datasets.samplers import SkippableBatchSampler


def random_states() -> Dict[str, Any]:
    """The global generators' states: Python's, NumPy's, torch's CPU one
    and, where there is CUDA, every device's."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    # As int64: torch < 2.3 cannot turn a uint32 array into a tensor, which
    # the weights-only checkpoint stores it as.
    states = dict(python=random.getstate(),
                  numpy=(name, keys.astype(np.int64), position, has_gauss,
                         cached),
                  torch=torch.get_rng_state())
    if torch.cuda.is_available():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: Dict[str, Any]) -> None:
    """Undo :func:`random_states` (also after a checkpoint round trip has
    turned tuples into lists and NumPy arrays into tensors)."""
    version, internal, gauss = states['python']
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = states['numpy']
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), position,
                         has_gauss, cached))
    torch.set_rng_state(states['torch'])
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` (same arguments), which can go on
    from the middle of an epoch.

    mmengine resumes an epoch-based run only at an epoch boundary: a
    checkpoint written in the middle of epoch ``e`` restarts epoch ``e``
    from its first batch. After :meth:`resume_within_epoch`, the next epoch
    starts at batch ``k`` instead: the dataloader's
    :class:`SkippableBatchSampler` leaves out the ``k`` batches already
    trained without loading them, the batch indices the hooks see continue
    at ``k``, and the random generators are put back to where they were
    after batch ``k - 1``, once the epoch's dataloader iterator exists
    (creating it draws a seed from torch's generator in an uninterrupted
    epoch too).
    """

    def __init__(self, runner, dataloader, *args, **kwargs) -> None:
        super().__init__(runner, dataloader, *args, **kwargs)
        self._resume_batches = 0
        self._resume_states: Optional[Dict[str, Any]] = None

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
                "which senet_mmdet's tools/train.py does; the dataloader "
                f'has {type(self.dataloader.batch_sampler).__name__}')
        self._resume_batches = batches
        self._resume_states = states

    def run_epoch(self) -> None:
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        start, self._resume_batches = self._resume_batches, 0
        if start:
            self.dataloader.batch_sampler.skip_next(start)
        batches = iter(self.dataloader)
        if self._resume_states is not None:
            set_random_states(self._resume_states)
            self._resume_states = None
        for index, data_batch in enumerate(batches, start):
            self.run_iter(index, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

