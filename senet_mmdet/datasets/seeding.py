"""Data augmentation as a function of (seed, epoch, sample index).

A dataloader worker's generators are seeded once, when the worker starts
(mmengine's ``worker_init_fn``), and then advance with every sample that
worker loads: which flips an image gets depended on how many workers there
were, which worker loaded it, what it loaded before, and (with persistent
workers) on the epochs before; none of that is in a checkpoint. Here the
training batch sampler (:class:`SkippableBatchSampler`), in the main
process, hands each index on with a seed derived from the run's seed, the
epoch and the index (:func:`~senet_mmdet.randomness.sample_seed`), and
:class:`SeededDataset` loads that sample inside generators seeded from it,
in whichever process loads it.
"""
import copy
from typing import Tuple, Union

from torch.utils.data import Dataset, get_worker_info

from mmdet.registry import DATASETS
from ..randomness import forked_random_states, seed_random_generators

SeededIndex = Tuple[int, int]


@DATASETS.register_module()
class SeededDataset(Dataset):
    """``dataset`` (a config or a dataset), each of whose samples is loaded
    with generators seeded from the seed it comes with.

    An ``(index, seed)`` pair loads ``dataset[index]`` inside
    :func:`~senet_mmdet.randomness.forked_random_states` of ``seed`` (in a
    dataloader worker, after
    :func:`~senet_mmdet.randomness.seed_random_generators`, with nothing to
    put back); a plain index loads as ``dataset[index]``. The whole
    ``dataset[index]`` runs inside the fork, so a sample that the pipeline
    rejects is replaced (mmengine's ``_rand_another``) by the same other
    sample every time, and a mixing dataset wrapper draws the same
    partners. Everything else (``metainfo``, ``get_data_info``, ...) is the
    wrapped dataset's.
    """

    def __init__(self, dataset: Union[dict, Dataset]) -> None:
        self.dataset = (DATASETS.build(dataset)
                        if isinstance(dataset, dict) else dataset)

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self.dataset.metainfo)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: Union[int, SeededIndex]):
        if not isinstance(index, tuple):
            return self.dataset[index]
        index, seed = index
        if get_worker_info() is not None:
            # A worker's generators serve its samples only, each seeded
            # afresh: nothing to put back (saving and restoring NumPy's
            # state is most of the fork's cost).
            seed_random_generators(seed)
            return self.dataset[index]
        with forked_random_states(seed):
            return self.dataset[index]

    def __getattr__(self, name: str):
        # Only called for what this wrapper lacks. 'dataset' itself is
        # missing while a worker unpickles the wrapper: no recursion.
        if name == 'dataset':
            raise AttributeError(name)
        return getattr(self.dataset, name)
