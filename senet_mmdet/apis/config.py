"""Loading a config with command-line options, as MMDetection's tools do,
except that an option may fill a key that is None in the config."""
import copy
import os.path as osp
from typing import Optional

from mmengine.config import Config


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


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load a config and merge ``--cfg-options`` into it as MMDetection's
    tools do, except that options may fill a key that is None in the config
    (:func:`_fill_none_parents`).

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path} does not exist')
    cfg = Config.fromfile(path)
    # mmengine pops ``_delete_`` from the dicts it merges.
    cfg.merge_from_dict(
        copy.deepcopy(_fill_none_parents(cfg, cfg_options or {})))
    return cfg
