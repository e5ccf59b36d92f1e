"""Every seed and random-generator state of a run, in one place.

A run's random numbers come from two kinds of draw: the model's (RPN and
RoI sampling, in the main process, from the global generators) and the data
augmentation's (in whichever process loads a sample). mmengine seeds the
global generators once, keeps no generator state in its checkpoints, and
seeds dataloader workers once per worker start, so a resumed run, or one
with another number of workers, drew other numbers. Here:

- each training epoch reseeds the global generators from
  :func:`epoch_seed` (:class:`~senet_mmdet.engine.hooks.EpochSeedHook`);
- each sample is loaded inside generators seeded from :func:`sample_seed`
  (:class:`~senet_mmdet.datasets.SeededDataset`), whatever process loads it;
- a mid-epoch checkpoint holds :func:`random_states`, which
  :func:`set_random_states` puts back.
"""
import random
from contextlib import contextmanager
from typing import Any, Dict, Iterator

import numpy as np
import torch


def epoch_seed(seed: int, epoch: int) -> int:
    """An independent 32-bit seed for ``epoch`` of a run seeded ``seed``
    (not ``seed + epoch``, which would give seed 1's first epoch the
    random numbers of seed 0's second)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed for sample ``index`` in ``epoch`` of a run seeded
    ``seed``: NumPy's child seed sequence of ``seed`` keyed by (epoch,
    index), so no two samples, epochs or runs share a stream, nor a sample
    the stream of an epoch's main-process seed (:func:`epoch_seed`)."""
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
