"""The random states a mid-epoch checkpoint holds come back exactly after
the weights-only round trip, and the loop refuses to skip batches it
cannot skip without loading them."""
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from senet_mmdet.engine import ResumableEpochBasedTrainLoop
from senet_mmdet.engine.checkpoint import from_weights_only, to_weights_only
from senet_mmdet.randomness import random_states, set_random_states


def draws() -> tuple:
    return (random.random(), float(np.random.rand()),
            float(torch.rand(())), float(np.random.randn()))


def test_random_states_survive_a_weights_only_checkpoint(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.randn()  # NumPy's cached Gaussian is part of its state
    checkpoint = dict(meta=dict(states=[random_states()]))
    expected = draws()
    to_weights_only(checkpoint)
    torch.save(checkpoint, tmp_path / 'c.pth')
    loaded = torch.load(tmp_path / 'c.pth', weights_only=True)
    from_weights_only(loaded)
    draws()
    set_random_states(loaded['meta']['states'][0])
    assert draws() == expected


def test_resuming_within_an_epoch_needs_the_skippable_sampler():
    loop = ResumableEpochBasedTrainLoop.__new__(ResumableEpochBasedTrainLoop)
    loop._dataloader = SimpleNamespace(batch_sampler=object())
    loop.dataloader = loop._dataloader
    with pytest.raises(TypeError, match="dataloader's batch_sampler wrapped "
                       "in dict\\(type='SkippableBatchSampler'"):
        loop.resume_within_epoch(3, None)
