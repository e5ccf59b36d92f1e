"""SkippableBatchSampler leaves out the first batches of one epoch without
reading their data, and otherwise yields its sampler's batches, each index
with its sample's seed once seeded."""
import pytest
from mmengine.dataset import DefaultSampler
from torch.utils.data import DataLoader, Dataset

from mmdet.datasets.samplers import AspectRatioBatchSampler
from senet_mmdet.datasets import SkippableBatchSampler
from senet_mmdet.randomness import sample_seed


class Images(Dataset):
    """20 items of two aspect ratios; reading one is recorded."""

    def __init__(self):
        self.read = []

    def __len__(self):
        return 20

    def get_data_info(self, index):
        return dict(width=100 if index % 3 else 50, height=60)

    def __getitem__(self, index):
        self.read.append(index)
        return index


@pytest.mark.parametrize('inner', [None, dict(type='AspectRatioBatchSampler')])
def test_skips_the_first_batches_of_the_next_epoch_only(inner):
    dataset = Images()
    sampler = DefaultSampler(dataset, shuffle=True, seed=0)
    skippable = SkippableBatchSampler(sampler, batch_size=3,
                                      batch_sampler=inner)
    assert skippable.sampler is sampler
    if inner is not None:
        assert isinstance(skippable.batch_sampler, AspectRatioBatchSampler)
    full = list(skippable)
    assert len(skippable) == len(full) == 7
    skippable.skip_next(4)
    assert list(skippable) == full[4:]
    assert list(skippable) == full
    # Through a DataLoader: the skipped batches' items are never read.
    loader = DataLoader(dataset, batch_sampler=skippable,
                        collate_fn=lambda batch: batch)
    skippable.skip_next(2)
    assert list(loader) == full[2:]
    assert sorted(dataset.read) == sorted(i for b in full[2:] for i in b)
    assert len(loader) == len(full)


def test_drop_last_reaches_torchs_batch_sampler():
    sampler = DefaultSampler(Images(), shuffle=False)
    batches = list(SkippableBatchSampler(sampler, batch_size=3,
                                         drop_last=True))
    assert len(batches) == 6 and all(len(batch) == 3 for batch in batches)


def test_seeded_samples_come_with_their_sample_seed_from_then_on():
    sampler = DefaultSampler(Images(), shuffle=True, seed=0)
    skippable = SkippableBatchSampler(sampler, batch_size=3)
    full = list(skippable)
    skippable.seed_samples(seed=7, epoch=2)
    skippable.skip_next(1)
    assert list(skippable) == [[(index, sample_seed(7, 2, index))
                                for index in batch] for batch in full[1:]]
    assert [[index for index, _ in batch] for batch in skippable] == full
