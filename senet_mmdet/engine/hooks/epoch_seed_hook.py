"""Reseed every training epoch: a resumed run repeats an uninterrupted one."""
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.runner import set_random_seed

from mmdet.registry import HOOKS
from senet_mmdet.randomness import epoch_seed


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed Python's, NumPy's and torch's global generators from the run's
    seed and the epoch before each training epoch.

    mmengine seeds them once, at start. Its checkpoints do not hold their
    states, and evaluation draws from torch's generator between epochs, so
    a run resumed at epoch ``e`` went on with other random numbers (RPN and
    RoI sampling) than an uninterrupted run: losses diverged from the first
    resumed iteration. Reseeding at each epoch makes epoch ``e`` start
    alike in both. Data augmentation does not draw from these generators:
    each sample has its own (:class:`~senet_mmdet.datasets.SeededDataset`),
    so dataloader workers, persistent or not, need no reseeding.
    """

    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        diff_rank = (runner.cfg.get('randomness') or {}).get(
            'diff_rank_seed', False)
        seed = epoch_seed(runner.seed, runner.epoch)
        set_random_seed(seed + (get_rank() if diff_rank else 0))
