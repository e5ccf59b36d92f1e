"""The official Caffe models (github.com/hujie-frank/SENet), without Caffe.

A ``.caffemodel`` is a protobuf ``NetParameter``; this module reads and
writes the few fields that hold weights, from the protobuf wire format
itself (https://protobuf.dev/programming-guides/encoding/), so neither
Caffe nor protobuf needs installing:

- ``NetParameter.layer`` (field 100; ``layers``, field 2, in old files)
- ``LayerParameter.name`` (1), ``.type`` (2), ``.blobs`` (7); for the old
  ``V1LayerParameter``, ``name`` is field 4 and ``blobs`` field 6
- ``BlobProto.shape`` (7, ``BlobShape.dim``, field 1), ``.data`` (5); old
  blobs give ``num/channels/height/width`` (fields 1-4) instead of a shape.

Caffe splits each BatchNorm in two layers: ``BatchNorm`` holds the running
mean and variance, both multiplied by a scale factor (its third blob), and
``Scale`` holds gamma and beta. They fold into one PyTorch BatchNorm.
"""
import re
import struct
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from ..common import (CAFFE_BGR, CheckpointFormat, Conventions, Converted,
                      register_format)

NET_LAYER, NET_LAYER_V1 = 100, 2
LAYER_NAME, LAYER_TYPE, LAYER_BLOBS = 1, 2, 7
V1_NAME, V1_BLOBS = 4, 6
BLOB_SHAPE, BLOB_DATA, SHAPE_DIM = 7, 5, 1
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


def _varint(data: bytes, pos: int) -> Tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterator[Tuple[int, int, object]]:
    """``(field number, wire type, value)`` of each field of a message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = _varint(data, pos)
        elif wire == FIXED64:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == LENGTH:
            size, pos = _varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        elif wire == FIXED32:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f'unsupported protobuf wire type {wire} at '
                             f'byte {pos}; is this a .caffemodel?')
        yield number, wire, value


def _blob(data: bytes) -> np.ndarray:
    shape: List[int] = []
    legacy = {}
    values: List[np.ndarray] = []
    for number, wire, value in _fields(data):
        if number == BLOB_SHAPE:
            for dim_number, dim_wire, dim in _fields(value):
                if dim_number != SHAPE_DIM:
                    continue
                if dim_wire == LENGTH:
                    pos = 0
                    while pos < len(dim):
                        size, pos = _varint(dim, pos)
                        shape.append(size)
                else:
                    shape.append(dim)
        elif number == BLOB_DATA:
            values.append(
                np.frombuffer(value, '<f4') if wire == LENGTH else np.array(
                    struct.unpack('<f', value), '<f4'))
        elif number in (1, 2, 3, 4) and wire == VARINT:
            legacy[number] = value
    if not shape and legacy:
        shape = [legacy.get(i, 1) for i in (1, 2, 3, 4)]
    array = np.concatenate(values) if values else np.zeros(0, '<f4')
    return array.reshape(shape) if shape else array


def read_caffemodel(path: str) -> Dict[str, List[Tensor]]:
    """``{layer name: [blob tensors]}`` for the layers that have blobs."""
    with open(path, 'rb') as file:
        data = file.read()
    layers: Dict[str, List[Tensor]] = OrderedDict()
    for number, wire, value in _fields(data):
        if wire != LENGTH or number not in (NET_LAYER, NET_LAYER_V1):
            continue
        name_field, blob_field = ((LAYER_NAME, LAYER_BLOBS)
                                  if number == NET_LAYER else
                                  (V1_NAME, V1_BLOBS))
        name, blobs = None, []
        for field, field_wire, content in _fields(value):
            if field == name_field and field_wire == LENGTH:
                name = content.decode()
            elif field == blob_field and field_wire == LENGTH:
                blobs.append(torch.from_numpy(_blob(content).copy()))
        if name and blobs:
            layers[name] = blobs
    if not layers:
        raise ValueError(f'{path}: no layer with weights found; is it a '
                         '.caffemodel (binary NetParameter)?')
    return layers


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_field(number: int, payload: bytes) -> bytes:
    return (_encode_varint(number << 3 | LENGTH) +
            _encode_varint(len(payload)) + payload)


def write_caffemodel(path: str,
                     layers: Sequence[Tuple[str, str,
                                            Sequence[np.ndarray]]]) -> None:
    """Write ``(name, type, blobs)`` layers as a binary ``NetParameter``,
    as Caffe writes them (packed shape dims and float data)."""
    net = bytearray()
    for name, layer_type, blobs in layers:
        layer = bytearray(_length_field(LAYER_NAME, name.encode()))
        layer += _length_field(LAYER_TYPE, layer_type.encode())
        for blob in blobs:
            blob = np.asarray(blob, '<f4')
            dims = b''.join(_encode_varint(d) for d in blob.shape)
            shape = _length_field(SHAPE_DIM, dims)
            layer += _length_field(
                LAYER_BLOBS,
                _length_field(BLOB_SHAPE, shape) +
                _length_field(BLOB_DATA, blob.tobytes()))
        net += _length_field(NET_LAYER, bytes(layer))
    with open(path, 'wb') as file:
        file.write(bytes(net))


# Caffe layer name -> our module, for the stems and the bottleneck parts.
STEM = {
    'conv1/7x7_s2': 'conv1',
    'conv1_1/3x3_s2': 'stem.0',
    'conv1_2/3x3': 'stem.3',
    'conv1_3/3x3': 'stem.6',
}
STEM_NORMS = {'conv1': 'bn1', 'stem.0': 'stem.1', 'stem.3': 'stem.4',
              'stem.6': 'stem.7'}
PARTS = {
    '1x1_reduce': ('conv1', 'bn1'),
    '3x3': ('conv2', 'bn2'),
    '1x1_increase': ('conv3', 'bn3'),
    '1x1_proj': ('downsample.0', 'downsample.1'),
    '1x1_down': ('se.fc1', None),
    '1x1_up': ('se.fc2', None),
}
BLOCK_LAYER = re.compile(r'conv(\d+)_(\d+)_(1x1_reduce|3x3|1x1_increase|'
                         r'1x1_proj|1x1_down|1x1_up)')
CLASSIFIER = 'classifier'


def _module_of(name: str) -> Tuple[str, str]:
    """``(our module, 'conv' | 'bn' | 'scale')`` for a Caffe layer name, or
    ``('', '')`` if it has no place in the backbone."""
    if name.endswith('/bn/scale'):
        base, kind = name[:-len('/bn/scale')], 'scale'
    elif name.endswith('/bn'):
        base, kind = name[:-len('/bn')], 'bn'
    else:
        base, kind = name, 'conv'
    if base in STEM:
        conv = STEM[base]
        return (conv if kind == 'conv' else STEM_NORMS[conv]), kind
    match = BLOCK_LAYER.fullmatch(base)
    if not match:
        return '', ''
    conv, norm = PARTS[match[3]]
    if kind != 'conv' and norm is None:
        return '', ''
    block = f'layer{int(match[1]) - 1}.{int(match[2]) - 1}'
    return f'{block}.{conv if kind == "conv" else norm}', kind


def caffe_to_backbone(layers: Dict[str, List[Tensor]]) -> Converted:
    """Our backbone's tensors from Caffe layers, with BatchNorm + Scale
    folded; returns them and the names of layers with no place (the
    classifier excepted)."""
    converted: Dict[str, Tensor] = OrderedDict()
    unmatched = []
    for name, blobs in layers.items():
        if name == CLASSIFIER:
            continue
        module, kind = _module_of(name)
        if not module:
            unmatched.append(name)
            continue
        if kind == 'conv':
            converted[f'{module}.weight'] = blobs[0]
            if len(blobs) > 1:
                converted[f'{module}.bias'] = blobs[1]
        elif kind == 'bn':
            # Caffe keeps sums: divide by the scale factor (0 -> empty).
            factor = float(blobs[2].reshape(-1)[0]) if len(blobs) > 2 else 1.
            factor = 1.0 / factor if factor != 0 else 0.0
            converted[f'{module}.running_mean'] = blobs[0] * factor
            converted[f'{module}.running_var'] = blobs[1] * factor
        else:
            converted[f'{module}.weight'] = blobs[0]
            converted[f'{module}.bias'] = blobs[1]
    return converted, unmatched


@register_format
class CaffeFormat(CheckpointFormat):
    """The official release's ``.caffemodel`` files: stride on the first
    1x1 in the SE-ResNets (on the grouped 3x3 in SE-ResNeXt and SENet-154),
    Caffe's unpadded ceil-mode stem pool, BGR input minus 104/117/123."""
    name = 'caffe'
    suffixes = ('.caffemodel', )
    key_names = ('``conv1/7x7_s2``, ``conv2_1_1x1_down``; classifier '
                 '``classifier``')

    def read(self, path: str) -> Dict[str, List[Tensor]]:
        return read_caffemodel(path)

    def detect(self, state_dict: Dict[str, Tensor]) -> bool:
        return any(
            re.match(r'conv\d+_\d+_1x1_down', key) for key in state_dict)

    def convert(self, state_dict: Dict[str, List[Tensor]]) -> Converted:
        return caffe_to_backbone(state_dict)

    def conventions(self, arch: Dict,
                    anti_alias: Optional[bool]) -> Conventions:
        backbone = dict(
            arch,
            style='caffe' if arch['type'] == 'SEResNet' else 'pytorch',
            stem_pool='caffe')
        return Conventions(self.name, backbone, dict(CAFFE_BGR))
