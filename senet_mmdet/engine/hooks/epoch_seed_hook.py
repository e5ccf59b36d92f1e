"""Reseed every training epoch: a resumed run repeats an uninterrupted one."""
import numpy as np
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.runner import set_random_seed

from mmdet.registry import HOOKS


def epoch_seed(seed: int, epoch: int) -> int:
    """An independent 32-bit seed for ``epoch`` of a run seeded ``seed``
    (not ``seed + epoch``, which would give seed 1's first epoch the
    random numbers of seed 0's second)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed Python's, NumPy's and torch's global generators from the run's
    seed and the epoch before each training epoch.

    mmengine seeds them once, at start. Its checkpoints do not hold their
    states, and evaluation draws from torch's generator between epochs, so
    a run resumed at epoch ``e`` went on with other random numbers (RPN and
    RoI sampling, augmentation in the main process) than an uninterrupted
    run: losses diverged from the first resumed iteration. Reseeding at
    each epoch makes epoch ``e`` start alike in both. Dataloader workers
    seed themselves when they start (mmengine's ``worker_init_fn``); with
    ``persistent_workers=True`` they keep their state across epochs, which
    a resumed run cannot restore, so :meth:`before_train` warns then.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        loader = runner.cfg.get('train_dataloader') or {}
        if (runner.iter > 0 and loader.get('num_workers', 0) > 0
                and loader.get('persistent_workers', False)):
            runner.logger.warning(
                'resumed with persistent dataloader workers: their random '
                'state (augmentation) starts afresh, so this run will not '
                'repeat an uninterrupted one exactly; set '
                'train_dataloader.persistent_workers=False for that')

    def before_train_epoch(self, runner) -> None:
        diff_rank = (runner.cfg.get('randomness') or {}).get(
            'diff_rank_seed', False)
        seed = epoch_seed(runner.seed, runner.epoch)
        set_random_seed(seed + (get_rank() if diff_rank else 0))
