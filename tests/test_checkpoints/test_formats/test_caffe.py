"""The official Caffe models: a .caffemodel written with random weights
under the official prototxt's layer names, run by a small Caffe
interpreter written here from the prototxt, against our backbone loaded
from the same file. The interpreter follows Caffe's layer semantics (BN
statistics divided by the scale factor, Scale, ceil-mode pooling, Axpy)
and shares no code with the converter."""
import re
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmdet.registry import MODELS
from senet_mmdet.checkpoints import ConversionError, load_converted
from senet_mmdet.checkpoints.formats.caffe import (read_caffemodel,
                                                 write_caffemodel)

PROTOTXT = Path(__file__).parents[2] / 'data' / 'caffe_prototxt'


def parse_prototxt(text: str) -> Dict[str, list]:
    """Protobuf text format -> ``{field: [values or nested dicts]}``."""
    text = re.sub(r'#[^\n]*', '', text)
    tokens = re.findall(r'"[^"]*"|[{}:]|[^\s{}:"]+', text)
    position = 0

    def message() -> Dict[str, list]:
        nonlocal position
        fields: Dict[str, list] = {}
        while position < len(tokens) and tokens[position] != '}':
            key = tokens[position]
            position += 1
            if tokens[position] == ':':
                position += 1
            if tokens[position] == '{':
                position += 1
                value = message()
                position += 1
            else:
                value = tokens[position].strip('"')
                position += 1
            fields.setdefault(key, []).append(value)
        return fields

    return message()


def param(layer, group, key, default=None):
    values = layer.get(group, [{}])[0].get(key)
    return type(default)(values[0]) if values else default


class CaffeNet:
    """Enough of Caffe's forward pass for the SENet prototxts."""

    def __init__(self, prototxt: Path, seed: int = 0):
        self.layers = parse_prototxt(prototxt.read_text())['layer']
        self.blobs: Dict[str, List[np.ndarray]] = {}
        rng = np.random.default_rng(seed)
        channels = {}
        for layer in self.layers:
            kind, name = layer['type'][0], layer['name'][0]
            bottom = layer.get('bottom', [None])
            if kind == 'Input':
                channels[layer['top'][0]] = 3
                continue
            c_in = channels[bottom[0]] if kind != 'Axpy' else channels[
                bottom[1]]
            c_out = c_in
            if kind == 'Convolution':
                c_out = param(layer, 'convolution_param', 'num_output', 0)
                k = param(layer, 'convolution_param', 'kernel_size', 1)
                groups = param(layer, 'convolution_param', 'group', 1)
                fan_in = c_in // groups * k * k
                blobs = [rng.normal(0, (2 / fan_in)**0.5,
                                    (c_out, c_in // groups, k, k))]
                if param(layer, 'convolution_param', 'bias_term',
                         'true') == 'true':
                    blobs.append(rng.normal(0, 0.1, c_out))
                self.blobs[name] = blobs
            elif kind == 'BatchNorm':
                # Caffe stores sums; the third blob is their scale factor.
                # A power of two keeps the division exact in float32, so
                # both sides see the same statistics.
                factor = 2.0**rng.integers(-2, 3)
                self.blobs[name] = [
                    np.float32(rng.normal(0, 0.1, c_in)) * factor,
                    np.float32(rng.uniform(0.5, 1.5, c_in)) * factor,
                    np.array([factor])
                ]
            elif kind == 'Scale':
                # Residual branches scaled down, as in a trained network, so
                # that deep random stacks do not amplify rounding.
                low, high = (0.0, 0.2) if '1x1_increase' in name else (0.5,
                                                                       1.5)
                self.blobs[name] = [
                    rng.uniform(low, high, c_in),
                    rng.normal(0, 0.1, c_in)
                ]
            elif kind == 'InnerProduct':
                c_out = param(layer, 'inner_product_param', 'num_output', 0)
                self.blobs[name] = [
                    rng.normal(0, 0.01, (c_out, c_in)),
                    np.zeros(c_out)
                ]
            if name in self.blobs:
                # What the file holds: both sides then start from the same
                # values, and compute in float64.
                self.blobs[name] = [
                    np.asarray(b, np.float32) for b in self.blobs[name]
                ]
            for top in layer['top']:
                channels[top] = c_out

    def write(self, path: Path) -> None:
        write_caffemodel(str(path), [(layer['name'][0], layer['type'][0],
                                      self.blobs[layer['name'][0]])
                                     for layer in self.layers
                                     if layer['name'][0] in self.blobs])

    def forward(self, image: torch.Tensor) -> Dict[str, torch.Tensor]:
        tensors = {'data': image.double()}
        for layer in self.layers:
            kind, name = layer['type'][0], layer['name'][0]
            if name.startswith('pool5'):
                break  # the classifier's head, which the backbone drops
            if kind == 'Input':
                continue
            inputs = [tensors[b] for b in layer['bottom']]
            x = inputs[0]
            blobs = [
                torch.from_numpy(b).double() for b in self.blobs.get(name, [])
            ]
            if kind == 'Convolution':
                conv = 'convolution_param'
                x = F.conv2d(
                    x, blobs[0], blobs[1] if len(blobs) > 1 else None,
                    stride=param(layer, conv, 'stride', 1),
                    padding=param(layer, conv, 'pad', 0),
                    groups=param(layer, conv, 'group', 1))
            elif kind == 'BatchNorm':
                mean, var = blobs[0] / blobs[2], blobs[1] / blobs[2]
                x = (x - mean.view(1, -1, 1, 1)) / torch.sqrt(
                    var.view(1, -1, 1, 1) + 1e-5)
            elif kind == 'Scale':
                x = x * blobs[0].view(1, -1, 1, 1) + blobs[1].view(
                    1, -1, 1, 1)
            elif kind == 'ReLU':
                x = F.relu(x)
            elif kind == 'Sigmoid':
                x = torch.sigmoid(x)
            elif kind == 'Pooling':
                pool = 'pooling_param'
                if param(layer, pool, 'global_pooling', 'false') == 'true':
                    x = x.mean((2, 3), keepdim=True)
                else:
                    assert param(layer, pool, 'pool', 'MAX') == 'MAX'
                    # Caffe rounds the output size up.
                    x = F.max_pool2d(
                        x, param(layer, pool, 'kernel_size', 1),
                        param(layer, pool, 'stride', 1),
                        param(layer, pool, 'pad', 0), ceil_mode=True)
            elif kind == 'Axpy':
                scale, y, shortcut = inputs
                x = scale * y + shortcut
            else:
                raise NotImplementedError(kind)
            tensors[layer['top'][0]] = x
        return tensors


def stage_outputs(net: CaffeNet, tensors) -> List[torch.Tensor]:
    """The output of each stage's last block (conv2_3, conv3_4, ...)."""
    last = {}
    for layer in net.layers:
        match = re.fullmatch(r'conv(\d)_(\d+)', layer['name'][0])
        if match and layer['type'][0] == 'Axpy':
            last[int(match[1])] = layer['top'][0]
    return [tensors[last[stage]] for stage in sorted(last)]


@pytest.mark.parametrize('prototxt, backbone', [
    ('SE-ResNet-50', dict(type='SEResNet', depth=50, style='caffe')),
    ('SE-ResNeXt-50', dict(type='SEResNeXt', depth=50, groups=32,
                           base_width=4, style='pytorch')),
    ('SENet-154', dict(type='SENet154', style='pytorch')),
])
def test_caffemodel_converts_to_what_caffe_computes(prototxt, backbone,
                                                     tmp_path):
    net = CaffeNet(PROTOTXT / f'{prototxt}.prototxt')
    path = tmp_path / f'{prototxt}.caffemodel'
    net.write(path)

    state_dict, conventions = load_converted(str(path))
    assert conventions.source == 'caffe'
    assert {k: conventions.backbone[k] for k in backbone} == backbone
    assert conventions.backbone['stem_pool'] == 'caffe'
    assert conventions.data_preprocessor == dict(
        mean=[104.0, 117.0, 123.0], std=[1.0, 1.0, 1.0], bgr_to_rgb=False)
    ours = MODELS.build(dict(conventions.backbone)).double()
    ours.load_state_dict(state_dict, strict=False)
    ours.eval()

    image = torch.rand(1, 3, 97, 97) * 255
    with torch.no_grad():
        expected = stage_outputs(net, net.forward(image))
        actual = ours(image.double())
    for reference, output in zip(expected, actual):
        assert reference.shape == output.shape
        error = (reference - output).abs().max() / reference.abs().max()
        assert error < 1e-5, float(error)


def test_reader_round_trips_the_writer(tmp_path):
    blobs = [np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2),
             np.array([1.5, -2.0], np.float32)]
    write_caffemodel(str(tmp_path / 'x.caffemodel'),
                     [('conv2_1_1x1_down', 'Convolution', blobs),
                      ('relu', 'ReLU', [])])
    layers = read_caffemodel(str(tmp_path / 'x.caffemodel'))
    assert list(layers) == ['conv2_1_1x1_down']
    for written, read in zip(blobs, layers['conv2_1_1x1_down']):
        np.testing.assert_array_equal(read.numpy(), written)


def test_not_a_caffemodel_is_refused(tmp_path):
    path = tmp_path / 'empty.caffemodel'
    write_caffemodel(str(path), [('relu', 'ReLU', [])])
    with pytest.raises(ValueError, match='no layer with weights'):
        read_caffemodel(str(path))
    odd = tmp_path / 'odd.caffemodel'
    write_caffemodel(str(odd), [('conv2_1_1x1_down', 'Convolution',
                                 [np.zeros((1, 1, 1, 1))]),
                                ('fc_extra', 'InnerProduct',
                                 [np.zeros((2, 2))])])
    with pytest.raises(ConversionError, match=r"\['fc_extra'\]"):
        load_converted(str(odd))


def test_reader_takes_old_v1_layers_and_4d_blob_dims(tmp_path):
    """Caffe files from before 2015 store ``layers`` (V1LayerParameter:
    name field 4, blobs field 6) and blob sizes as num/channels/height/
    width (fields 1-4) instead of a shape."""

    def varint(value):
        out = bytearray()
        while True:
            out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
            value >>= 7
            if not value:
                return bytes(out)

    def length_field(number, payload):
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    weights = np.arange(6, dtype=np.float32)
    dims = b''.join(varint(n << 3) + varint(v)
                    for n, v in ((1, 2), (2, 3), (3, 1), (4, 1)))
    blob = dims + length_field(5, weights.tobytes())
    layer = length_field(4, b'conv2_1_1x1_up') + length_field(6, blob)
    (tmp_path / 'v1.caffemodel').write_bytes(length_field(2, layer))
    layers = read_caffemodel(str(tmp_path / 'v1.caffemodel'))
    np.testing.assert_array_equal(layers['conv2_1_1x1_up'][0].numpy(),
                                  weights.reshape(2, 3, 1, 1))


def test_corrupt_caffemodel_is_refused(tmp_path):
    path = tmp_path / 'corrupt.caffemodel'
    path.write_bytes(b'\x0b\x00\x00')  # field 1 with wire type 3
    with pytest.raises(ValueError, match='unsupported protobuf wire type 3'):
        read_caffemodel(str(path))
