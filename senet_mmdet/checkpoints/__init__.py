"""Pretrained SE weights from every public port: one file per format in
``formats/``, the converters that dispatch to them, the ``timm://``
loader, and exact loading into the backbones (registered as the
``SEPretrained`` weight initializer that the backbones look up)."""
from . import timm_hub  # noqa: F401  (registers the timm:// scheme)
from .common import (FORMAT_TABLE, CheckpointFormat, ConversionError,
                     Conventions, WeightsNotFetchedError, register_format)
from .converters import FORMATS, convert_state_dict, detect_format
from .loading import (PretrainedMismatchError, SEPretrainedInit,
                      load_converted, load_pretrained)

__all__ = [
    'FORMATS', 'FORMAT_TABLE', 'CheckpointFormat', 'ConversionError',
    'Conventions', 'WeightsNotFetchedError', 'register_format',
    'convert_state_dict', 'detect_format', 'PretrainedMismatchError',
    'SEPretrainedInit', 'load_converted', 'load_pretrained'
]
