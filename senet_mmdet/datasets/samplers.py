"""A batch sampler that can leave out the batches a resumed run has
already trained, without loading them, and hands each index on with its
sample's seed."""
from typing import Iterator, List, Optional, Union

from torch.utils.data import BatchSampler, Sampler

from mmdet.registry import DATA_SAMPLERS
from ..randomness import sample_seed
from .seeding import SeededIndex


@DATA_SAMPLERS.register_module()
class SkippableBatchSampler:
    """Yields the batches of ``batch_sampler`` (a config, as a dataloader's
    ``batch_sampler``, or None for torch's ``BatchSampler``), except the
    first ``n`` of the next epoch after :meth:`skip_next`.

    Resuming in the middle of an epoch: the skipped batches are index lists
    that the wrapped sampler draws and this one drops, so no image is read
    or augmented for them (mmengine's own way, iterating the dataloader and
    discarding the data, costs a full data pass per skipped batch). The
    wrapped sampler is iterated exactly as in an uninterrupted epoch, so
    stateful batch samplers (MMDetection's aspect-ratio grouping) build the
    same batches. ``len()`` stays the epoch's full length, from which the
    loop counts its iterations.

    After :meth:`seed_samples`, each index comes as an ``(index, seed)``
    pair (:func:`~senet_mmdet.randomness.sample_seed`), which a
    :class:`~senet_mmdet.datasets.SeededDataset` loads with that seed.
    """

    def __init__(self, sampler: Sampler, batch_size: int,
                 batch_sampler: Optional[dict] = None,
                 drop_last: bool = False) -> None:
        if batch_sampler is None:
            self.batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        else:
            self.batch_sampler = DATA_SAMPLERS.build(
                batch_sampler,
                default_args=dict(sampler=sampler, batch_size=batch_size))
        self._skip = 0
        self._seed: Optional[int] = None
        self._epoch = 0

    @property
    def sampler(self) -> Sampler:
        """The index sampler, whose ``set_epoch`` mmengine's
        ``DistSamplerSeedHook`` calls through ``batch_sampler.sampler``."""
        return self.batch_sampler.sampler

    def skip_next(self, batches: int) -> None:
        """Leave out the first ``batches`` batches of the next epoch only."""
        self._skip = batches

    def seed_samples(self, seed: int, epoch: int) -> None:
        """Pair each index from now on with its sample's seed in ``epoch``
        of a run seeded ``seed``."""
        self._seed, self._epoch = seed, epoch

    def __iter__(self) -> Iterator[List[Union[int, SeededIndex]]]:
        skip, self._skip = self._skip, 0
        for position, batch in enumerate(self.batch_sampler):
            if position < skip:
                continue
            if self._seed is None:
                yield batch
            else:
                yield [(index, sample_seed(self._seed, self._epoch, index))
                       for index in batch]

    def __len__(self) -> int:
        return len(self.batch_sampler)
