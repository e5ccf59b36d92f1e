from .tools import load_config, mmdet_tool, run_mmdet_tool

__all__ = ['load_config', 'mmdet_tool', 'run_mmdet_tool']
