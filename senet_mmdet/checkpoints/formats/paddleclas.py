"""PaddleClas's SE models (``SE_ResNet18_vd`` ... ``SENet154_vd``), the
weights PaddleDetection's SE detectors start from, without Paddle.

A ``.pdparams`` file is a pickle of ``{structured name: numpy array}`` and,
from ``paddle.save``, a table ``StructuredToParameterName@@`` of each
tensor's parameter name. It is read here by an unpickler that builds numpy
arrays and nothing else: any other object in the file is refused by name
(a pickle can run code; these files come from the internet).

PaddleClas names its layers ``conv1_1`` (the deep stem's convs), ``bb_{stage}_
{block}.conv0/1/2`` (a block's convs, each a ``_conv`` and a ``_batch_norm``),
``short`` (the projection shortcut) and ``scale.squeeze/excitation`` (the
SE FCs, Paddle ``Linear`` layers stored input-major, so transposed here).
"""
import pickle
import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from ..common import (DEEP_STEM, IMAGENET_RGB, CheckpointFormat,
                      ConversionError, Conventions, Converted,
                      register_format)

# paddle.save's table of parameter names, beside the tensors.
NAME_TABLE = 'StructuredToParameterName@@'

# numpy's array reconstruction, as an array pickles itself.
_RECONSTRUCT = np.ndarray((0, )).__reduce__()[0]
# What an array dict needs from a pickle: that reconstruction (under numpy
# 1's and numpy 2's module names) and an ordered dict.
ALLOWED_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'): _RECONSTRUCT,
    ('numpy._core.multiarray', '_reconstruct'): _RECONSTRUCT,
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
    ('collections', 'OrderedDict'): OrderedDict,
}

# PaddleClas BatchNorm statistics, and ours.
NORM_PARAMS = {
    'weight': 'weight',
    'bias': 'bias',
    '_mean': 'running_mean',
    '_variance': 'running_var'
}


class PdparamsError(ValueError):
    """A ``.pdparams`` file that is not a plain dict of arrays."""


class _ArrayUnpickler(pickle.Unpickler):
    """Builds numpy arrays, dicts and strings; refuses any other global."""

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise PdparamsError(
                f'the file asks to build {module}.{name}, which is not part '
                'of a dict of arrays; refused without running it') from None


def read_pdparams(path: str) -> Dict[str, object]:
    """The tensors of a ``.pdparams`` file as torch tensors, keyed by
    structured name, with paddle's name table (if any) under
    :data:`NAME_TABLE`."""
    try:
        with open(path, 'rb') as file:
            loaded = _ArrayUnpickler(file).load()
    except PdparamsError as error:
        raise PdparamsError(f'{path}: {error}') from None
    except (pickle.UnpicklingError, EOFError) as error:
        raise PdparamsError(
            f'{path} is not a .pdparams pickle ({error}); PaddleClas saves '
            'weights with paddle.save(model.state_dict(), path)') from None
    if not isinstance(loaded, dict):
        raise PdparamsError(
            f'{path} holds a {type(loaded).__name__}, not the dict of arrays '
            'that paddle.save(model.state_dict()) writes')
    state_dict: Dict[str, object] = OrderedDict()
    for key, value in loaded.items():
        if key == NAME_TABLE:
            state_dict[key] = dict(value)
        elif isinstance(value, np.ndarray):
            state_dict[key] = torch.from_numpy(np.ascontiguousarray(value))
        else:
            raise PdparamsError(
                f'{path}: {key} is a {type(value).__name__}, not an array')
    return state_dict


def _stem_names(
        state_dict: Dict[str, object]) -> Dict[str, Tuple[str, str]]:
    """PaddleClas stem layers -> our (conv, norm): a 7x7 conv (``conv``, in
    SE_ResNeXt50/101_32x4d), or a deep stem ``conv1_1/2/3``."""
    if 'conv._conv.weight' in state_dict:
        return {'conv': ('conv1', 'bn1')}
    return dict(
        zip(('conv1_1', 'conv1_2', 'conv1_3'),
            zip(DEEP_STEM[::2], DEEP_STEM[1::2])))


def _is_vd(state_dict: Dict[str, object], table: Dict[str, str]) -> bool:
    """Whether the shortcuts average-pool before their 1x1 conv (PaddleClas
    ``_vd`` models, MMDetection's ``avg_down``).

    The pools have no tensors. Every ``_vd`` model has a deep stem, and so
    has only one other model, SE_ResNeXt152_64x4d, which keys the same as
    SENet154_vd; paddle's name table tells them apart (its stem parameters
    are ``conv1_weights``, the ``_vd`` ones' ``conv1_1_weights``).
    """
    if 'conv1_1._conv.weight' not in state_dict:
        return False
    if table:
        return table.get('conv1_1._conv.weight') == 'conv1_1_weights'
    conv0 = state_dict['bb_0_0.conv0._conv.weight']
    conv1 = state_dict['bb_0_0.conv1._conv.weight']
    if conv0.shape[0] // conv1.shape[1] == 64:
        raise ConversionError(
            'these PaddleClas weights are SENet154_vd or SE_ResNeXt152_64x4d,'
            ' which hold the same tensors and differ in their shortcuts '
            f'(average pool or not), and the file lacks paddle\'s '
            f'{NAME_TABLE!r} table that tells them apart. Save them again '
            'with paddle.save(model.state_dict(), path), which writes it')
    return True


def paddleclas_to_backbone(state_dict: Dict[str, object]) -> Converted:
    """Our keys for PaddleClas's tensors, and the keys with no place.

    The classifier ``out`` is dropped; the name table is consumed.
    """
    table = state_dict.get(NAME_TABLE) or {}
    vd = _is_vd(state_dict, table)
    shortcut = ('downsample.1', 'downsample.2') if vd else ('downsample.0',
                                                             'downsample.1')
    block_layers = {
        'conv0': ('conv1', 'bn1'),
        'conv1': ('conv2', 'bn2'),
        'conv2': ('conv3', 'bn3'),
        'short': shortcut,
    }
    stems = _stem_names(state_dict)
    converted: Dict[str, Tensor] = OrderedDict()
    unmatched = []
    for key, value in state_dict.items():
        if key == NAME_TABLE or key.startswith('out.'):
            continue
        target = _target(key, stems, block_layers)
        if target is None:
            unmatched.append(key)
            continue
        if re.search(r'\.se\.fc[12]\.weight$', target):
            # Paddle's Linear stores (in, out); our 1x1 conv (out, in, 1, 1).
            value = value.t().reshape(*value.shape[::-1], 1, 1)
        converted[target] = value
    return converted, unmatched


def _target(key: str, stems: Dict[str, Tuple[str, str]],
            block_layers: Dict[str, Tuple[str, str]]) -> Optional[str]:
    """Our name for one PaddleClas key, or None."""
    match = re.fullmatch(r'bb_(\d+)_(\d+)\.scale\.(squeeze|excitation)\.'
                         r'(weight|bias)', key)
    if match:
        stage, block, fc, param = match.groups()
        fc = 'fc1' if fc == 'squeeze' else 'fc2'
        return f'layer{int(stage) + 1}.{block}.se.{fc}.{param}'
    match = re.fullmatch(r'(?:bb_(\d+)_(\d+)\.)?(\w+?)\.'
                         r'(_conv\.weight|_batch_norm\.\w+)', key)
    if not match:
        return None
    stage, block, layer, param = match.groups()
    if stage is None:
        names = stems.get(layer)
        prefix = ''
    else:
        names = block_layers.get(layer)
        prefix = f'layer{int(stage) + 1}.{block}.'
    if names is None:
        return None
    conv, norm = names
    if param == '_conv.weight':
        return f'{prefix}{conv}.weight'
    norm_param = NORM_PARAMS.get(param[len('_batch_norm.'):])
    return None if norm_param is None else f'{prefix}{norm}.{norm_param}'


@register_format
class PaddleClasFormat(CheckpointFormat):
    """PaddleClas's ``.pdparams``: strides on the 3x3, a padded stem pool,
    RGB with the ImageNet mean and std, as timm's."""
    name = 'paddleclas'
    suffixes = ('.pdparams', )
    key_names = ('``conv1_1._conv``, ``bb_0_0.scale.squeeze``; classifier '
                 '``out``')

    def read(self, path: str) -> Dict[str, object]:
        return read_pdparams(path)

    def detect(self, state_dict: Dict[str, Tensor]) -> bool:
        return any('.scale.squeeze.' in key for key in state_dict)

    def convert(self, state_dict: Dict[str, object]) -> Converted:
        return paddleclas_to_backbone(state_dict)

    def conventions(self, arch: Dict,
                    anti_alias: Optional[bool]) -> Conventions:
        backbone = dict(arch, style='pytorch', stem_pool='pytorch')
        return Conventions(self.name, backbone, dict(IMAGENET_RGB))
