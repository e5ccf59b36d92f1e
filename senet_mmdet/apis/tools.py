"""Helpers behind tools/: MMDetection's own tools, reused, not copied."""
import copy
import gc
import importlib.util
import os
import os.path as osp
import subprocess
import sys
from types import ModuleType
from typing import Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.dist import init_dist
from mmengine.hooks import CheckpointHook
from mmengine.registry import init_default_scope
from mmengine.runner import EpochBasedTrainLoop

import mmdet
from mmdet.registry import MODELS
from senet_mmdet.checkpoints import (PretrainedMismatchError,
                                     WeightsNotFetchedError)
from senet_mmdet.datasets import DatasetError, check_dataset_files
from senet_mmdet.engine import (RESUMABLE_EXIT_CODE, UNSAFE_LOAD_FLAG,
                                CheckpointError, CheckpointSaveError,
                                NonFiniteTrainingError, TrainingInterrupted,
                                allow_unsafe_load, checkpoint_problems,
                                load_weights_only)

# Our flags on top of MMDetection's (it would reject them): name -> help.
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
# What training adds to any config: mmengine's checkpoint hook made safe
# against kills, a stop at the first non-finite loss, and per-epoch seeds
# for resuming exactly (senet_mmdet/engine/hooks/).
TRAINING_HOOKS = ('StopOnNonFiniteHook', 'EpochSeedHook')


def mmdet_tool(name: str) -> ModuleType:
    """Load MMDetection's ``tools/<name>.py`` as shipped inside the mmdet
    package (``mmdet/.mim/tools``), so our tools keep its flags exactly."""
    path = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', f'{name}.py')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'MMDetection {mmdet.__version__} does not ship tools/{name}.py '
            f'(looked for {path}); reinstall it with '
            f'`pip install --force-reinstall --no-deps mmdet==3.3.0`')
    spec = importlib.util.spec_from_file_location(f'mmdet_tools_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fill_none_parents(cfg: Config, options: dict) -> dict:
    """``--cfg-options`` with the options under a key that is None in
    ``cfg`` grouped into one option that replaces it.

    mmengine refuses to merge ``model.backbone.init_cfg.type=Pretrained``
    into a config whose ``init_cfg`` is None (a TypeError that suggests
    ``_delete_``, which a command line cannot give); with nothing there to
    merge with, the options can only mean a new dict, and a dict option
    with ``_delete_=True`` says so to mmengine.
    """
    filled = {}
    for key, value in options.items():
        parts = key.split('.')
        node, target = cfg.to_dict(), key
        for depth in range(len(parts) - 1):
            if not isinstance(node, dict) or parts[depth] not in node:
                break
            if node[parts[depth]] is None:
                target = '.'.join(parts[:depth + 1])
                group = filled.setdefault(target, {'_delete_': True})
                for part in parts[depth + 1:-1]:
                    group = group.setdefault(part, {})
                group[parts[-1]] = value
                break
            node = node[parts[depth]]
        if target == key:
            filled[key] = value
    return filled


def load_config_and_options(path: str,
                            cfg_options: dict) -> Tuple[Config, dict]:
    """Load a config and apply ``--cfg-options`` as MMDetection's tools do,
    except that options may fill a key that is None in the config
    (:func:`_fill_none_parents`); returns the config and the options in the
    form that MMDetection's tool merges the same way."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path} does not exist')
    cfg = Config.fromfile(path)
    options = _fill_none_parents(cfg, cfg_options)
    # mmengine pops ``_delete_`` from the dicts it merges.
    cfg.merge_from_dict(copy.deepcopy(options))
    return cfg, options


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """:func:`load_config_and_options`, the config only."""
    return load_config_and_options(path, cfg_options or {})[0]


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


def _start_distributed(args, cfg: Config) -> dict:
    """Start the process group of a torchrun job (on CUDA and CPU) or a
    Slurm job on CPU, and return the config options it needs; mmengine then
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
        return {}
    if args.launcher == 'slurm':
        _slurm_environment()
    store, rank, world_size = _attempt_store()
    if cuda:
        dist_cfg = dict((cfg.get('env_cfg') or {}).get('dist_cfg') or {})
        init_dist('pytorch', store=store, rank=rank, world_size=world_size,
                  **dist_cfg)
        return {}
    torch.distributed.init_process_group(
        backend='gloo', store=store, rank=rank, world_size=world_size)
    return {'model_wrapper_cfg.device_ids': None}


def _resumable_loop(cfg: Config) -> dict:
    """The config options that let an epoch-based run resume within an
    epoch: :class:`ResumableEpochBasedTrainLoop`, and the training
    dataloader's batch sampler wrapped in :class:`SkippableBatchSampler`.

    Both replace their whole section of ``cfg`` (``_delete_``), which
    already holds the user's ``--cfg-options`` under them."""
    train_cfg = cfg.get('train_cfg') or {}
    loop_type = train_cfg.get('type')
    if loop_type in ('EpochBasedTrainLoop', EpochBasedTrainLoop) or (
            loop_type is None and train_cfg.get('by_epoch', False)):
        loop_type = 'ResumableEpochBasedTrainLoop'
    if loop_type != 'ResumableEpochBasedTrainLoop':
        return {}
    loop = {key: value for key, value in train_cfg.items()
            if key != 'by_epoch'}
    loop.update(_delete_=True, type=loop_type)
    loader = copy.deepcopy(cfg.train_dataloader.to_dict())
    inner = loader.pop('batch_sampler', None)
    if (inner or {}).get('type') != 'SkippableBatchSampler':
        inner = dict(type='SkippableBatchSampler', batch_sampler=inner)
        if inner['batch_sampler'] is None:
            # torch's BatchSampler, built by the wrapper: DataLoader takes
            # drop_last only without a batch sampler.
            inner['drop_last'] = loader.pop('drop_last', False)
    loader.update(_delete_=True, batch_sampler=inner)
    return {'train_cfg': loop, 'train_dataloader': loader}


def _training_options(cfg: Config, options: dict) -> dict:
    """``options`` with those that put the reliability hooks and the
    resumable loop into a run."""
    resumable = _resumable_loop(cfg)
    options = {
        key: value
        for key, value in options.items()
        if key.split('.')[0] not in resumable
    }
    options.update(resumable)
    checkpoint = cfg.get('default_hooks', {}).get('checkpoint')
    if checkpoint and checkpoint.get('type') in ('CheckpointHook',
                                                  CheckpointHook):
        options['default_hooks.checkpoint.type'] = 'AtomicCheckpointHook'
    hooks = list(cfg.get('custom_hooks', []))
    present = {hook.get('type') for hook in hooks}
    hooks += [
        dict(type=name) for name in TRAINING_HOOKS if name not in present
    ]
    options['custom_hooks'] = hooks
    return options


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


def _pop_flag(flag: str) -> bool:
    """Remove ``flag`` from ``sys.argv`` (MMDetection's parser does not know
    it) and say whether it was there."""
    given = flag in sys.argv[1:]
    sys.argv[1:] = [arg for arg in sys.argv[1:] if arg != flag]
    return given


def _tensorboard(cfg: Config) -> dict:
    """The config option that adds TensorBoard to the run's visualizer
    backends: mmengine's ``TensorboardVisBackend`` writes event files next
    to the JSON scalars, ``{work_dir}/{timestamp}/vis_data/``."""
    backends = list(cfg.get('visualizer', {}).get('vis_backends', []))
    if not any(b.get('type') == 'TensorboardVisBackend' for b in backends):
        backends.append(dict(type='TensorboardVisBackend'))
    return {'visualizer.vis_backends': backends}


def run_mmdet_tool(name: str, loaders: Sequence[str]) -> None:
    """Run MMDetection's ``tools/<name>.py`` on ``sys.argv`` once the files it
    reads exist; a missing one ends the process with a message that names it
    and says how to get it, instead of a traceback from deep in a runner.

    On top of MMDetection's tool: testing writes the metrics to
    ``{work_dir}/test_metrics.json`` (:class:`DumpMetricsHook`), every
    checkpoint loads weights-only unless ``--unsafe-load``
    (:mod:`senet_mmdet.engine.checkpoint`), training
    runs the reliability hooks (:data:`TRAINING_HOOKS`, atomic
    checkpoints), testing refuses a checkpoint that does not fit the model
    or is not finite, pretrained weights that cannot be fetched (offline)
    or do not fit end the run with an ``error:`` line before its first
    iteration, ``--launcher pytorch`` and ``--launcher slurm`` also run on
    CPU-only machines (gloo), workers that torchrun restarts start a process
    group apart from the dead attempt's, and the :data:`FLAGS` (and, for
    testing,
    :data:`TEST_FLAGS`) are ours.
    """
    tool = mmdet_tool(name)
    flags = {**FLAGS, **(TEST_FLAGS if name == 'test' else {})}
    given = {flag: _pop_flag(flag) for flag in flags}
    if {'-h', '--help'} & set(sys.argv[1:]):
        print('senet_mmdet flags (before MMDetection\'s):\n' + ''.join(
            f'  {flag:<20}{text}\n' for flag, text in flags.items()))
    args = tool.parse_args()
    if given[UNSAFE_LOAD_FLAG]:
        allow_unsafe_load()
    try:
        checkpoint = getattr(args, 'checkpoint', None)
        if checkpoint is not None and not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'checkpoint {checkpoint} does not exist; pass a .pth written '
                'by tools/train.py (work_dirs/<config>/epoch_*.pth)')
        cfg, options = load_config_and_options(args.config,
                                               args.cfg_options or {})
        check_dataset_files(cfg, loaders, given['--check-images'])
        if checkpoint is not None:
            check_test_checkpoint(cfg, checkpoint, given['--allow-mismatch'],
                                  given['--allow-nonfinite'])
    except (FileNotFoundError, DatasetError, CheckpointError) as error:
        sys.exit(f'error: {error}')
    options.update(_start_distributed(args, cfg))
    if given['--tensorboard']:
        options.update(_tensorboard(cfg))
    if name == 'train':
        options = _training_options(cfg, options)
    if name == 'test':
        options['custom_hooks'] = [
            *cfg.get('custom_hooks', []),
            dict(type='DumpMetricsHook')
        ]
    args.cfg_options = options
    # main() parses sys.argv again; hand it the arguments completed here.
    tool.parse_args = lambda: args
    try:
        tool.main()
    except (CheckpointError, CheckpointSaveError, NonFiniteTrainingError,
            WeightsNotFetchedError, PretrainedMismatchError) as error:
        # Pretrained weights fail in the Runner's weight initialisation,
        # before the first iteration.
        sys.exit(f'error: {error}')
    except TrainingInterrupted as stop:
        # Every rank stopped at the same iteration, after the save.
        print(f'stopped: {stop}', file=sys.stderr)
        _end_process_group()
        sys.exit(RESUMABLE_EXIT_CODE)
    _end_process_group()


def _end_process_group() -> None:
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
