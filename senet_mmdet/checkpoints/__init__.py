"""Pretrained SE weights from every public port: converters, the
``timm://`` loader, and exact loading into the backbones."""
from . import timm_hub  # noqa: F401  (registers the timm:// scheme)
from .converters import (FORMATS, ConversionError, Conventions,
                         convert_state_dict, detect_format)
from .loading import PretrainedMismatchError, load_converted, load_pretrained

__all__ = [
    'FORMATS', 'ConversionError', 'Conventions', 'convert_state_dict',
    'detect_format', 'PretrainedMismatchError', 'load_converted',
    'load_pretrained'
]
