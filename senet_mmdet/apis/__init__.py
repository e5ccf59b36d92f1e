from .config_diff import config_diff
from .tools import load_config, mmdet_tool, run_mmdet_tool

__all__ = ['config_diff', 'load_config', 'mmdet_tool', 'run_mmdet_tool']
