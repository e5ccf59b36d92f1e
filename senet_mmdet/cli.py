"""What tools/train.py and tools/test.py do before the Runner exists: our
flags beside MMDetection's, the process group of a torchrun job (and of
any job on a CPU-only machine), and the refusals that need no Runner.
Everything a run does once the Runner exists is in the config
(:class:`~senet_mmdet.engine.SafeRunner`), so MMDetection's own tools get
it too."""
import argparse
import os
import os.path as osp
import subprocess
import sys
from typing import Callable, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.dist import init_dist
from mmengine.registry import RUNNERS, init_default_scope

from mmdet.registry import MODELS
from .apis import load_config
from .checkpoints import PretrainedMismatchError, WeightsNotFetchedError
from .datasets import DatasetError
from .engine import (UNSAFE_LOAD_FLAG, CheckDataHook, CheckpointError,
                     CheckpointSaveError, NonFiniteTrainingError,
                     allow_unsafe_load, checkpoint_problems,
                     end_process_group, load_weights_only, safe_config)

# Our flags on top of MMDetection's: name -> help.
FLAGS = {
    '--tensorboard': 'also log to TensorBoard (WORK_DIR/<time>/vis_data/)',
    '--check-images': 'decode every image of the checked datasets before '
    'the run (minutes on COCO)',
    UNSAFE_LOAD_FLAG: 'unpickle in full the checkpoints that weights-only '
    'loading refuses (can run code in the file: trusted files only)',
}
# Ours for tools/test.py only (tools/train.py's --help does not list them).
TEST_FLAGS = {
    '--allow-mismatch': 'evaluate a checkpoint whose tensors do not fit the '
    'model (missing, unexpected, other shapes)',
    '--allow-nonfinite': 'evaluate a checkpoint with NaN or infinite weights',
}
# What ends a tool with an ``error:`` line (exit status 1) instead of a
# traceback: missing files, unusable data or checkpoints, a save that found
# the disk full, a diverged run, pretrained weights that cannot be fetched
# or do not fit (raised in the Runner's weight initialisation, before the
# first iteration).
REFUSALS = (FileNotFoundError, DatasetError, CheckpointError,
            CheckpointSaveError, NonFiniteTrainingError,
            WeightsNotFetchedError, PretrainedMismatchError)


def add_common_arguments(parser: argparse.ArgumentParser,
                         test: bool) -> None:
    """The flags that MMDetection's tools/train.py and tools/test.py share
    (``--cfg-options``, ``--launcher``, ``--local-rank``), then ours."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or
    # --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    ours = parser.add_argument_group('senet_mmdet flags')
    for flag, text in {**FLAGS, **(TEST_FLAGS if test else {})}.items():
        ours.add_argument(flag, action='store_true', help=text)


def parsed(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse ``sys.argv`` as MMDetection's tools do (``LOCAL_RANK`` from
    ``--local-rank`` unless the launcher set it), and let this process
    unpickle checkpoints in full after ``--unsafe-load``."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if args.unsafe_load:
        allow_unsafe_load()
    return args


def load_tool_config(args: argparse.Namespace) -> Config:
    """The config as MMDetection's tools build it (``--cfg-options``, the
    launcher, the work dir: command line, then config, then
    ``./work_dirs/<config name>``), with our flags' options and the
    safe-training components (:func:`~senet_mmdet.engine.safe_config`,
    whatever ``runner_type`` the config names)."""
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if 'runner_type' not in cfg:
        cfg.runner_type = 'SafeRunner'
    if args.tensorboard:
        backends = list(cfg.get('visualizer', {}).get('vis_backends', []))
        if not any(b.get('type') == 'TensorboardVisBackend'
                   for b in backends):
            # mmengine's TensorboardVisBackend writes event files next to
            # the JSON scalars, {work_dir}/{timestamp}/vis_data/.
            backends.append(dict(type='TensorboardVisBackend'))
        cfg.merge_from_dict({'visualizer.vis_backends': backends})
    if args.check_images:
        hooks = [hook for hook in cfg.get('custom_hooks') or []
                 if hook.get('type') != 'CheckDataHook']
        cfg.custom_hooks = [*hooks,
                            dict(type='CheckDataHook', check_images=True)]
    return safe_config(cfg)


def checks_images(cfg: Config) -> bool:
    """Whether the config's :class:`CheckDataHook` decodes every image
    (``--check-images`` or the hook's own ``check_images``)."""
    return any(hook.get('check_images', False)
               for hook in cfg.get('custom_hooks') or []
               if hook.get('type') == 'CheckDataHook')


def mark_data_checked(runner) -> None:
    """Tell the run's :class:`CheckDataHook` that the tool checked the data
    before building the Runner (so a refusal wrote nothing)."""
    for hook in runner.hooks:
        if isinstance(hook, CheckDataHook):
            hook.done = True


def check_test_checkpoint(cfg: Config, checkpoint: str, allow_mismatch: bool,
                          allow_nonfinite: bool) -> None:
    """Raise :class:`CheckpointError` unless ``checkpoint`` holds exactly
    the tensors of ``cfg``'s model, all finite (or the user allowed it).

    MMDetection loads with ``strict=False``: a checkpoint of another
    architecture only warns, and the tool evaluates a mostly random model
    and writes its metrics as if they were the checkpoint's.
    """
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    problems = checkpoint_problems(model, load_weights_only(checkpoint, 'cpu'))
    refused = []
    if problems['fit'] and not allow_mismatch:
        refused.append('it does not fit the config\'s model: '
                       f'{problems["fit"]} (pass --allow-mismatch to '
                       'evaluate it anyway)')
    if problems['finite'] and not allow_nonfinite:
        refused.append(f'{problems["finite"]} (a diverged training?; pass '
                       '--allow-nonfinite to evaluate it anyway)')
    if refused:
        raise CheckpointError(f'{checkpoint}: ' + '; '.join(refused) +
                              '. Nothing was evaluated or written.')


def _slurm_environment() -> None:
    """Set the torch.distributed variables from Slurm's, as mmengine's
    ``_init_dist_slurm`` does before its ``torch.cuda.set_device``: rank
    and world size from the task, the master the first host of the job
    (unless ``MASTER_ADDR`` is set), port ``MASTER_PORT`` or 29500."""
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        hosts = subprocess.run(
            ['scontrol', 'show', 'hostnames', os.environ['SLURM_NODELIST']],
            capture_output=True, text=True, check=True).stdout.split()
        os.environ['MASTER_ADDR'] = hosts[0]


def _attempt_store() -> Tuple[torch.distributed.Store, int, int]:
    """The store, rank and world size of ``env://`` (torchrun's or Slurm's
    variables), with the keys of this attempt apart from an earlier one's.

    Under torchrun the workers' store is the agent's TCPStore
    (``TORCHELASTIC_USE_AGENT_STORE``), which outlives a restart: with
    ``--max-restarts`` the restarted workers found the dead attempt's keys,
    and gloo connected to the dead peer's address (connectFullMesh:
    "Connection refused") or waited on its counters for 30 minutes. torch
    2.13 prefixes no attempt there (static rendezvous and c10d alike), so
    the keys here go under ``TORCHELASTIC_RESTART_COUNT``, as torch's own
    env:// rendezvous once did."""
    store, rank, world_size = next(torch.distributed.rendezvous('env://'))
    attempt = os.environ.get('TORCHELASTIC_RESTART_COUNT')
    if attempt is not None:
        store = torch.distributed.PrefixStore(f'/worker/attempt_{attempt}',
                                              store)
    return store, rank, world_size


def start_distributed(args: argparse.Namespace, cfg: Config) -> None:
    """Start the process group of a torchrun job (on CUDA and CPU) or a
    Slurm job on CPU, and set what ``cfg`` needs for it; mmengine then
    leaves the group as it is.

    On CUDA, mmengine's own ``pytorch`` launcher starts it, with the
    config's ``env_cfg.dist_cfg``, over :func:`_attempt_store`. Without
    CUDA, mmengine's ``pytorch`` and ``slurm`` launchers would call
    ``torch.cuda.set_device`` whatever the backend, and its Runner gives
    DistributedDataParallel ``device_ids``, which DDP rejects for a CPU
    model: the group is started with gloo here, and ``device_ids=None``
    keeps DDP on the CPU. Slurm on CUDA stays mmengine's (Slurm restarts no
    job in place).
    """
    cuda = torch.cuda.is_available()
    if (args.launcher not in ('pytorch', 'slurm')
            or torch.distributed.is_initialized()
            or (cuda and args.launcher == 'slurm')):
        return
    if args.launcher == 'slurm':
        _slurm_environment()
    store, rank, world_size = _attempt_store()
    if cuda:
        dist_cfg = dict((cfg.get('env_cfg') or {}).get('dist_cfg') or {})
        init_dist('pytorch', store=store, rank=rank, world_size=world_size,
                  **dist_cfg)
        return
    torch.distributed.init_process_group(
        backend='gloo', store=store, rank=rank, world_size=world_size)
    cfg.merge_from_dict({'model_wrapper_cfg.device_ids': None})


def run(cfg: Config, start: Callable[[object], None]) -> None:
    """Build the Runner that ``cfg`` names (``RUNNERS.build``, as
    MMDetection's tools do), call ``start(runner)`` (train or test) and
    end the process group; a :data:`REFUSALS` error ends the process with
    its message. A signal's stop exits with status 75 from
    :class:`~senet_mmdet.engine.SafeRunner`."""
    try:
        runner = RUNNERS.build(cfg)
        start(runner)
    except REFUSALS as error:
        sys.exit(f'error: {error}')
    end_process_group()
