"""Squeeze-and-Excitation backbones for MMDetection 3.x.

``import senet_mmdet`` registers the SE backbones, the
``SqueezeExcitation`` module and the SE weight loader in MMDetection's
registries, and lets mmengine resolve config bases written
``senet_mmdet::<folder>/<file>.py``.
"""
from mmengine.config.utils import MODULE2PACKAGE

from . import checkpoints, datasets, engine, models  # noqa: F401  (registers)
from .version import __version__

# mmengine resolves ``package::path`` bases only for the packages in this
# table (module name -> pip distribution name).
MODULE2PACKAGE.setdefault('senet_mmdet', 'senet_mmdet')

__all__ = ['__version__']
