"""Helpers behind tools/: MMDetection's own tools, reused, not copied."""
import gc
import importlib.util
import os.path as osp
import sys
from types import ModuleType
from typing import Optional, Sequence

import torch
from mmengine.config import Config

import mmdet
from senet_mmdet.datasets import DatasetError, check_dataset_files
from senet_mmdet.engine import trust_checkpoints


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


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load a config and apply ``--cfg-options`` as MMDetection's tools do."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _work_dir(args, cfg: Config) -> str:
    """The work dir that MMDetection's tools pick: CLI, config, file name."""
    return args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])


def _cpu_distributed(args) -> dict:
    """Start a torchrun job on machines without CUDA, and return the config
    options it needs.

    mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` whatever
    the backend, and its Runner gives DistributedDataParallel
    ``device_ids``, which DDP rejects for a CPU model. The process group is
    started here with gloo (mmengine then leaves it as it is), and
    ``device_ids=None`` keeps DDP on the CPU.
    """
    if args.launcher != 'pytorch' or torch.cuda.is_available():
        return {}
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend='gloo')
    return {'model_wrapper_cfg.device_ids': None}


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
    ``{work_dir}/test_metrics.json`` (:class:`DumpMetricsHook`), the
    checkpoints given to ``--resume`` or to test, and those in the work dir,
    load on torch >= 2.6 (:func:`trust_checkpoints`), and ``--launcher
    pytorch`` also runs on CPU-only machines (gloo), and ``--tensorboard``
    logs to TensorBoard as well.
    """
    tool = mmdet_tool(name)
    tensorboard = _pop_flag('--tensorboard')
    args = tool.parse_args()
    try:
        checkpoint = getattr(args, 'checkpoint', None)
        if checkpoint is not None and not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'checkpoint {checkpoint} does not exist; pass a .pth written '
                'by tools/train.py (work_dirs/<config>/epoch_*.pth)')
        cfg = load_config(args.config, args.cfg_options)
        check_dataset_files(cfg, loaders)
    except (FileNotFoundError, DatasetError) as error:
        sys.exit(f'error: {error}')
    resume = getattr(args, 'resume', None)
    trust_checkpoints([
        _work_dir(args, cfg), checkpoint, cfg.get('load_from'),
        None if resume == 'auto' else resume
    ])
    options = dict(args.cfg_options or {})
    options.update(_cpu_distributed(args))
    if tensorboard:
        options.update(_tensorboard(cfg))
    if name == 'test':
        options['custom_hooks'] = [
            *cfg.get('custom_hooks', []),
            dict(type='DumpMetricsHook')
        ]
    args.cfg_options = options
    # main() parses sys.argv again; hand it the arguments completed here.
    tool.parse_args = lambda: args
    tool.main()
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
