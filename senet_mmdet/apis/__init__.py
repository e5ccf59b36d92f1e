from .config import load_config
from .config_diff import config_diff

__all__ = ['config_diff', 'load_config']
