"""CaffeMaxPool2d computes Caffe's ceil-mode stem pool exactly, and exports
with dynamic input sizes."""
import io
import itertools

import pytest
import torch
from torch import nn

from senet_mmdet.models.layers.caffe_pool import CaffeMaxPool2d

CEIL_MODE = nn.MaxPool2d(kernel_size=3, stride=2, padding=0, ceil_mode=True)


def pooled_by_both(height: int, width: int, seed: int) -> tuple:
    generator = torch.Generator().manual_seed(seed)
    # Negative values too: a -inf pad that leaked into a window would
    # still lose to a positive maximum.
    x = torch.randn(2, 3, height, width, generator=generator)
    x.requires_grad_(True)
    return x, CEIL_MODE(x), CaffeMaxPool2d()(x)


@pytest.mark.parametrize('height', range(2, 65))
def test_equals_the_ceil_mode_pool_for_every_size_up_to_64(height):
    for width in range(2, 65):
        x, expected, result = pooled_by_both(height, width, height * width)
        assert result.shape == expected.shape
        assert torch.equal(result, expected), (height, width)


def test_size_1_has_no_window_in_either_form():
    for height, width in ((1, 1), (1, 8), (8, 1)):
        x = torch.randn(1, 1, height, width)
        with pytest.raises(RuntimeError, match='too small'):
            CEIL_MODE(x)
        with pytest.raises(RuntimeError, match='too small'):
            CaffeMaxPool2d()(x)


@pytest.mark.parametrize('height,width', [(399, 607), (401, 667), (333, 501),
                                          (417, 417)])
def test_equals_the_ceil_mode_pool_at_odd_detection_sizes(height, width):
    # The stem conv's output of 797x1213 to 833x1333 images.
    x, expected, result = pooled_by_both(height, width, 0)
    assert torch.equal(result, expected)
    gradient = torch.randn_like(expected)
    expected_grad, = torch.autograd.grad(expected, x, gradient)
    result_grad, = torch.autograd.grad(result, x, gradient)
    assert torch.equal(result_grad, expected_grad)


def test_exports_with_dynamic_sizes_and_no_ceil_mode():
    import onnx
    import onnxruntime as ort
    buffer = io.BytesIO()
    export_args = dict(
        input_names=['x'], output_names=['y'], opset_version=11,
        dynamic_axes=dict(x={2: 'h', 3: 'w'}, y={2: 'h2', 3: 'w2'}))
    if 'dynamo' in torch.onnx.export.__code__.co_varnames:
        export_args['dynamo'] = False
    torch.onnx.export(CaffeMaxPool2d(), torch.randn(1, 4, 33, 34), buffer,
                      **export_args)
    graph = onnx.load_from_string(buffer.getvalue()).graph
    pools = [node for node in graph.node if node.op_type == 'MaxPool']
    assert len(pools) == 1
    assert all(attribute.name != 'ceil_mode' or attribute.i == 0
               for attribute in pools[0].attribute)
    session = ort.InferenceSession(buffer.getvalue(),
                                   providers=['CPUExecutionProvider'])
    for height, width in itertools.product((2, 7, 64), (3, 10, 65)):
        x = torch.randn(1, 4, height, width)
        result, = session.run(None, dict(x=x.numpy()))
        assert torch.equal(torch.from_numpy(result), CEIL_MODE(x))
