"""One file per checkpoint format; importing this package registers each
of them in :data:`senet_mmdet.checkpoints.common.FORMAT_TABLE`.

Every module here is imported, so adding a format is adding one file that
defines a :class:`~senet_mmdet.checkpoints.common.CheckpointFormat` with
``@register_format``.
"""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f'{__name__}.{_module.name}')
