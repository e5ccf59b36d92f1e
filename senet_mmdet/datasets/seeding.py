"""Data augmentation as a function of (seed, epoch, sample index).

A dataloader worker's generators are seeded once, when the worker starts
(mmengine's ``worker_init_fn``), and then advance with every sample that
worker loads: which flips an image gets depended on how many workers there
were, which worker loaded it, what it loaded before, and (with persistent
workers) on the epochs before; none of that is in a checkpoint. Here the
training batch sampler, in the main process, hands each index on with a
seed derived from the run's seed, the epoch and the index
(:func:`sample_seed`), and the dataset loads that sample inside
:func:`forked_random_states` of that seed, in whichever process loads it.
"""
import random
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import get_worker_info


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed for sample ``index`` in ``epoch`` of a run seeded
    ``seed``: NumPy's child seed sequence of ``seed`` keyed by (epoch,
    index), so no two samples, epochs or runs share a stream, nor a sample
    the stream of an epoch's main-process seed
    (:func:`~senet_mmdet.engine.hooks.epoch_seed`)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(epoch, index))
    return int(sequence.generate_state(1)[0])


def random_states(cuda: bool = True) -> Dict[str, Any]:
    """The global generators' states: Python's, NumPy's, torch's CPU one
    and, with ``cuda`` where there is CUDA, every device's."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    # As int64: torch < 2.3 cannot turn a uint32 array into a tensor, which
    # the weights-only checkpoint stores it as.
    states = dict(python=random.getstate(),
                  numpy=(name, keys.astype(np.int64), position, has_gauss,
                         cached),
                  torch=torch.get_rng_state())
    if cuda and torch.cuda.is_available():
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


def seed_random_generators(seed: int) -> None:
    """Seed Python's, NumPy's and torch's CPU generators from ``seed``.

    CUDA's generators are left alone: a forked dataloader worker must not
    touch CUDA, and data pipelines draw on the CPU (``torch.manual_seed``
    would seed every device too, and takes 100 times as long)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.default_generator.manual_seed(seed)


@contextmanager
def forked_random_states(seed: int) -> Iterator[None]:
    """Run the body with the generators seeded from ``seed``
    (:func:`seed_random_generators`), and put their previous states back
    afterwards, so the caller's random numbers are as if the body had not
    run."""
    saved = random_states(cuda=False)
    seed_random_generators(seed)
    try:
        yield
    finally:
        set_random_states(saved)


SeededIndex = Tuple[int, int]


class SeededSamples:
    """Loads the samples of a batch of ``(index, seed)`` pairs, each inside
    :func:`forked_random_states` of its seed (in a dataloader worker, after
    :func:`seed_random_generators`); a plain index loads as torch would
    load it.

    Set as a dataset's ``__getitems__`` (:func:`load_seeded`): torch's
    dataloader fetches a whole batch through it, in the main process or a
    worker alike. The whole ``dataset[index]`` runs inside the fork, so a
    sample that the pipeline rejects is replaced (mmengine's
    ``_rand_another``) by the same other sample every time, and a mixing
    dataset wrapper draws the same partners."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __call__(self, indices: Sequence[Union[int, SeededIndex]]) -> List:
        return [self._load(index) for index in indices]

    def _load(self, index: Union[int, SeededIndex]):
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


def load_seeded(dataset) -> None:
    """Make torch's dataloaders load ``dataset``'s ``(index, seed)`` pairs
    with :class:`SeededSamples`.

    torch's map-style fetcher calls ``dataset.__getitems__(indices)`` when
    the dataset has one (``torch.utils.data._utils.fetch``); set on this
    object, it travels with it into the workers, persistent or not."""
    dataset.__getitems__ = SeededSamples(dataset)
