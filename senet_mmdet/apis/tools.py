"""Helpers behind tools/: MMDetection's own tools, reused, not copied."""
import importlib.util
import os.path as osp
import sys
from types import ModuleType
from typing import Optional, Sequence

from mmengine.config import Config

import mmdet
from senet_mmdet.datasets import check_dataset_files


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


def run_mmdet_tool(name: str, loaders: Sequence[str]) -> None:
    """Run MMDetection's ``tools/<name>.py`` on ``sys.argv`` once the files it
    reads exist; a missing one ends the process with a message that names it
    and says how to get it, instead of a traceback from deep in a runner."""
    tool = mmdet_tool(name)
    args = tool.parse_args()
    try:
        checkpoint = getattr(args, 'checkpoint', None)
        if checkpoint is not None and not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'checkpoint {checkpoint} does not exist; pass a .pth written '
                'by tools/train.py (work_dirs/<config>/epoch_*.pth)')
        cfg = load_config(args.config, args.cfg_options)
        check_dataset_files(cfg, loaders)
    except FileNotFoundError as error:
        sys.exit(f'error: {error}')
    tool.main()
