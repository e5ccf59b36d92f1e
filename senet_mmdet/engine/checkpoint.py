"""Loading mmengine's own training checkpoints on torch >= 2.6.

torch 2.6 made ``torch.load`` default to ``weights_only=True``, and mmengine
0.10.7 calls it without the argument. A plain state dict still loads that
way, but the checkpoints that mmengine writes while training also hold the
message hub's history (``HistoryBuffer`` objects whose pickles call
``getattr``), so ``--resume`` and testing a trained checkpoint fail. No
allow-list of globals makes ``getattr`` safe, so instead the files the user
names for resuming or testing, and those in the run's own work dir, are
trusted and loaded in full; every other file is still loaded weights-only.
"""
import os
import os.path as osp
from typing import Callable, Iterable, Optional

import torch
from mmengine.runner import CheckpointLoader

# mmengine's loader for local paths, which the trusted loader falls back to.
_load_untrusted: Optional[Callable] = None
_trusted_paths: set = set()


def _is_trusted(filename: str) -> bool:
    path = osp.realpath(filename)
    return any(path == trusted or path.startswith(trusted + os.sep)
               for trusted in _trusted_paths)


def _load_local(filename: str, map_location=None) -> dict:
    if _is_trusted(filename):
        if not osp.isfile(filename):
            raise FileNotFoundError(f'checkpoint {filename} does not exist')
        return torch.load(
            filename, map_location=map_location, weights_only=False)
    return _load_untrusted(filename, map_location)


def trust_checkpoints(paths: Iterable[Optional[str]]) -> None:
    """Load the checkpoint files, or any file under the folders, in
    ``paths`` with ``weights_only=False`` from now on in this process.

    Only name files you wrote or otherwise trust: unpickling a full
    checkpoint can run code.
    """
    global _load_untrusted
    if _load_untrusted is None:
        _load_untrusted = CheckpointLoader._schemes['']
        CheckpointLoader.register_scheme(prefixes='', force=True)(_load_local)
    _trusted_paths.update(osp.realpath(path) for path in paths if path)
