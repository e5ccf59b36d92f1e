"""Where a seeded run of a config lives and which checkpoint ends its
training: what the tools that train several configs and seeds in turn
(tools/analysis/compare.py, tools/reproduce_paper.py) share, so that both
lay out, seed, skip and resume runs alike."""
import os.path as osp
from typing import Optional

from mmengine.config import Config


def config_name(config: str) -> str:
    """The config's file name without ``.py``."""
    return osp.splitext(osp.basename(config))[0]


def seeded_run_dir(root: str, config: str, seed: int) -> str:
    """``ROOT/<config name>/seed_<seed>``."""
    return osp.join(root, config_name(config), f'seed_{seed}')


def seed_option(seed: int) -> str:
    """The ``--cfg-options`` entry that seeds a training or a test."""
    return f'randomness.seed={seed}'


def final_checkpoint_name(cfg: Config) -> str:
    """The file name of the checkpoint that the last training step writes:
    ``epoch_<max_epochs>.pth`` for an epoch-based loop,
    ``iter_<max_iters>.pth`` for an iteration-based one."""
    train_cfg = cfg.train_cfg
    if train_cfg.get('by_epoch', True) and 'max_epochs' in train_cfg:
        return f'epoch_{train_cfg.max_epochs}.pth'
    return f'iter_{train_cfg.max_iters}.pth'


def last_checkpoint(run_dir: str) -> Optional[str]:
    """The newest checkpoint of a run, from the ``last_checkpoint`` file
    that mmengine writes beside it (looked up in ``run_dir`` by its file
    name, so a moved work dir still resolves), or None before the first
    save."""
    record = osp.join(run_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record) as handle:
        name = osp.basename(handle.read().strip())
    return osp.join(run_dir, name) if name else None
