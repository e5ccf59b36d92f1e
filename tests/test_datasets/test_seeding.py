"""A sample's random draws are a function of (seed, epoch, index): the same
in the main process and in any worker, persistent or not, whatever was
loaded before; loading leaves the main process's generators alone; a
sample the pipeline rejects is replaced by the same other sample."""
import random

import numpy as np
import torch
from mmengine.dataset import BaseDataset, DefaultSampler
from torch.utils.data import DataLoader, Dataset

from senet_mmdet.datasets import SeededDataset, SkippableBatchSampler
from senet_mmdet.randomness import (epoch_seed, forked_random_states,
                                    sample_seed)


def draws() -> tuple:
    """One draw from each generator a transform may use."""
    return (random.random(), float(np.random.rand()), float(torch.rand(())))


class Draws(Dataset):
    """Each item is its index and one draw from each generator."""

    def __len__(self):
        return 12

    def __getitem__(self, index):
        return (index, *draws())


def epochs(dataset, num_workers: int, persistent: bool = False,
           skip: int = 0) -> list:
    """Two seeded epochs of batches of 2 (the second skips ``skip``)."""
    dataset = SeededDataset(dataset)
    sampler = SkippableBatchSampler(
        DefaultSampler(dataset, shuffle=True, seed=0), batch_size=2)
    loader = DataLoader(dataset, batch_sampler=sampler,
                        num_workers=num_workers,
                        persistent_workers=persistent,
                        collate_fn=lambda batch: batch)
    loaded = []
    for epoch in range(2):
        sampler.sampler.set_epoch(epoch)
        sampler.seed_samples(seed=3, epoch=epoch)
        sampler.skip_next(skip if epoch else 0)
        loaded.append([item for batch in loader for item in batch])
    return loaded


def test_a_sample_draws_alike_in_any_process_and_differs_by_epoch():
    in_main = epochs(Draws(), num_workers=0)
    assert epochs(Draws(), num_workers=2) == in_main
    assert epochs(Draws(), num_workers=2, persistent=True) == in_main
    # Resuming after 2 batches: the other samples draw as before.
    assert epochs(Draws(), num_workers=2, skip=2)[1] == in_main[1][4:]
    first, second = ({item[0]: item[1:] for item in epoch}
                     for epoch in in_main)
    assert sorted(first) == sorted(second) == list(range(12))
    assert len({*first.values(), *second.values()}) == 24


def test_loading_leaves_the_main_process_generators_alone():
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    expected = draws()
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    with forked_random_states(sample_seed(0, 0, 5)):
        inner = draws()
    assert draws() == expected
    assert inner != expected


def test_seeds_differ_by_seed_epoch_and_index_and_from_the_epoch_seed():
    seeds = {sample_seed(seed, epoch, index) for seed in range(3)
             for epoch in range(3) for index in range(100)}
    assert len(seeds) == 900
    # Not the main process's stream of that epoch (EpochSeedHook).
    assert sample_seed(0, 1, 0) != epoch_seed(0, 1)


def reject_odd(results: dict):
    """A pipeline that rejects odd samples (as a crop without boxes does)
    and draws for the others."""
    if results['sample_idx'] % 2:
        return None
    return (results['sample_idx'], *draws())


class Rejecting(BaseDataset):

    def __init__(self):
        super().__init__(pipeline=[reject_odd], serialize_data=False)

    def load_data_list(self):
        return [dict(index=index) for index in range(12)]


def test_a_rejected_sample_is_replaced_by_the_same_sample():
    # mmengine's BaseDataset loads a random other index instead
    # (_rand_another, from NumPy's global generator).
    loaded = epochs(Rejecting(), num_workers=2)
    assert loaded == epochs(Rejecting(), num_workers=0)
    assert all(item[0] % 2 == 0 for epoch in loaded for item in epoch)
