from senet_mmdet.randomness import epoch_seed


def test_epoch_seeds_differ_across_seeds_and_epochs():
    seeds = {
        epoch_seed(seed, epoch)
        for seed in range(3) for epoch in range(4)
    }
    assert len(seeds) == 12
    assert epoch_seed(0, 1) == epoch_seed(0, 1)
