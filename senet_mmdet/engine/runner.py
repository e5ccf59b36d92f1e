"""The Runner that switches the safe-training components on.

``runner_type = 'SafeRunner'`` (with ``custom_imports`` of
``senet_mmdet``) is the whole opt-in, and works under MMDetection's own
tools/train.py and tools/test.py: they build the Runner with
``RUNNERS.build(cfg)`` whenever the config names a ``runner_type``.
:meth:`SafeRunner.from_cfg` then writes the components into the config
as mmengine's own keys (:func:`safe_config`), before mmengine builds
anything from it, so the config dumped into the work dir shows them and
each can be set by hand instead.

Why a Runner and not a ``_base_`` file holding those keys: mmengine's
old-style configs refuse two bases that define the same top-level key
("Duplicate key is not allowed among bases"), and MMDetection's bases
define ``default_hooks``, ``train_cfg`` and ``train_dataloader``; a base
beside ``mmdet::faster_rcnn/...`` can only set keys they leave alone
(``runner_type``, ``custom_imports``). And the changes depend on the
config (an epoch-based loop becomes the resumable one, an iteration-based
one stays; the user's batch sampler is wrapped, not replaced).
"""
import copy
import gc
import sys
from typing import Union

import torch
from mmengine.config import Config
from mmengine.hooks import CheckpointHook
from mmengine.registry import RUNNERS
from mmengine.runner import EpochBasedTrainLoop, Runner

from .hooks import CheckDataHook
from .stop_guard import RESUMABLE_EXIT_CODE, TrainingInterrupted

# What a safe run adds to custom_hooks (each unless the config has one of
# that type): a stop at the first non-finite loss or weight, per-epoch
# seeds for resuming exactly, the data check before training, and the test
# metrics in the work dir. MMDetection's CheckInvalidLossHook does not do
# the first job: it checks the total loss only, every 50 iterations by
# default, with an assert, while a non-finite gradient can leave the loss
# finite and write NaN weights (StopOnNonFiniteHook checks both, every
# iteration, before the checkpoint hook saves).
SAFE_HOOKS = ('StopOnNonFiniteHook', 'EpochSeedHook', 'CheckDataHook',
              'DumpMetricsHook')


def _epoch_based(train_cfg: dict) -> bool:
    loop_type = train_cfg.get('type')
    return loop_type in ('EpochBasedTrainLoop', EpochBasedTrainLoop) or (
        loop_type is None and train_cfg.get('by_epoch', False))


def _resumable_loop(cfg: Config) -> dict:
    """The config options that let an epoch-based run resume within an
    epoch: :class:`ResumableEpochBasedTrainLoop`, the training batch
    sampler wrapped in :class:`SkippableBatchSampler` and the training
    dataset in :class:`SeededDataset`.

    Both replace their whole section of ``cfg`` (``_delete_``), which
    already holds the user's ``--cfg-options`` under them."""
    train_cfg = cfg.get('train_cfg') or {}
    if train_cfg.get('type') != 'ResumableEpochBasedTrainLoop' and (
            not _epoch_based(train_cfg)):
        return {}
    if not cfg.get('train_dataloader'):
        return {}
    loop = {key: value for key, value in train_cfg.items()
            if key != 'by_epoch'}
    loop.update(_delete_=True, type='ResumableEpochBasedTrainLoop')
    loader = copy.deepcopy(cfg.train_dataloader.to_dict())
    inner = loader.pop('batch_sampler', None)
    if (inner or {}).get('type') != 'SkippableBatchSampler':
        inner = dict(type='SkippableBatchSampler', batch_sampler=inner)
        if inner['batch_sampler'] is None:
            # torch's BatchSampler, built by the wrapper: DataLoader takes
            # drop_last only without a batch sampler.
            inner['drop_last'] = loader.pop('drop_last', False)
    if loader['dataset'].get('type') != 'SeededDataset':
        loader['dataset'] = dict(type='SeededDataset',
                                 dataset=loader['dataset'])
    loader.update(_delete_=True, batch_sampler=inner)
    return {'train_cfg': loop, 'train_dataloader': loader}


def safe_config(cfg: Union[Config, dict]) -> Config:
    """A copy of ``cfg`` with the safe-training components switched on, in
    mmengine's keys: the atomic checkpoint hook
    (``default_hooks.checkpoint.type``, where it is mmengine's), the
    :data:`SAFE_HOOKS` in ``custom_hooks``, and for an epoch-based run the
    resumable loop (``train_cfg.type``), the skippable batch sampler
    (``train_dataloader.batch_sampler``) and the per-sample seeding
    (``train_dataloader.dataset``). Components already there, with their
    arguments, are kept; applying it twice changes nothing more."""
    cfg = copy.deepcopy(cfg) if isinstance(cfg, Config) else Config(
        copy.deepcopy(dict(cfg)))
    options = _resumable_loop(cfg)
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint')
    if checkpoint and checkpoint.get('type') in ('CheckpointHook',
                                                  CheckpointHook):
        options['default_hooks.checkpoint.type'] = 'AtomicCheckpointHook'
    hooks = list(cfg.get('custom_hooks') or [])
    present = {hook.get('type') for hook in hooks}
    hooks += [dict(type=name) for name in SAFE_HOOKS if name not in present]
    options['custom_hooks'] = hooks
    cfg.merge_from_dict(options)
    return cfg


def end_process_group() -> None:
    """Tear the process group down while the interpreter is whole.

    Left to interpreter shutdown, gloo's threads sometimes abort a rank
    that has finished its work ("terminate called without an active
    exception"). The barrier keeps one rank from closing its connections
    while another still uses them; collecting afterwards runs the group's
    destructor now, not during shutdown.
    """
    if not torch.distributed.is_initialized():
        return
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    gc.collect()


# In mmengine's root registry: MMDetection's tools build the runner before
# any default scope exists, so the lookup starts there (children would not
# be searched).
@RUNNERS.register_module()
class SafeRunner(Runner):
    """mmengine's Runner with the safe-training components of
    :func:`safe_config`, and a run that a signal stopped ending with exit
    status 75 under any tool."""

    @classmethod
    def from_cfg(cls, cfg) -> 'SafeRunner':
        return super().from_cfg(safe_config(cfg))

    def train(self) -> torch.nn.Module:
        """Train as mmengine does, after the data check
        (:class:`CheckDataHook`, before anything reads the data).

        A signal that stopped the run (after its checkpoint was saved:
        :class:`TrainingInterrupted`) prints where and how to resume, ends
        the process group on every rank, and exits with
        :data:`RESUMABLE_EXIT_CODE` (75, "try again later"), on which
        tools/slurm_batch.sh requeues."""
        for hook in self.hooks:
            if isinstance(hook, CheckDataHook):
                hook.check(self)
        try:
            return super().train()
        except TrainingInterrupted as stop:
            # Every rank stopped at the same iteration, after the save.
            print(f'stopped: {stop}', file=sys.stderr)
            end_process_group()
            raise SystemExit(RESUMABLE_EXIT_CODE) from None
