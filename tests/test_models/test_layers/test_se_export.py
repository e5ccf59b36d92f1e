import io

import pytest
import torch
from torch import nn

from senet_mmdet.models.layers import SqueezeExcitation
from senet_mmdet.models.layers.se_export import (
    EXPORT_SE_FORMS, export_se_conv_norm_residual_relu)
from .utils import frozen_bn


class SETail(nn.Module):
    """A bottleneck's last conv, frozen norm, SE, residual add and ReLU,
    in one export form (or the straightforward block with ``form=None``)."""

    def __init__(self, in_channels: int, out_channels: int, form=None):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.norm = frozen_bn(out_channels)
        self.se = SqueezeExcitation(out_channels, ratio=4)
        self.form = form

    def forward(self, features, identity):
        if self.form is None:
            return torch.relu(
                self.se(self.norm(self.conv(features))) + identity)
        return export_se_conv_norm_residual_relu(
            self.se, self.conv, features, self.norm, identity, self.form)


def se_tails(form):
    torch.manual_seed(0)
    reference = SETail(16, 64).eval()
    tail = SETail(16, 64, form).eval()
    tail.load_state_dict(reference.state_dict())
    return reference, tail


@pytest.mark.parametrize('form', EXPORT_SE_FORMS)
@pytest.mark.parametrize('batch', [1, 3])
def test_export_forms_equal_the_straightforward_block(form, batch):
    reference, tail = se_tails(form)
    features = torch.randn(batch, 16, 9, 11)
    identity = torch.randn(batch, 64, 9, 11)
    with torch.no_grad():
        expected = reference(features, identity)
        out = tail(features, identity)
    # Each sample gets its own gate: a batch computed as one would differ.
    assert not torch.allclose(expected[0], expected[-1]) or batch == 1
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def onnx_of(module: nn.Module, args: tuple) -> bytes:
    buffer = io.BytesIO()
    export_args = dict(
        input_names=['features', 'identity'], output_names=['out'],
        opset_version=11, dynamic_axes={
            name: {0: 'batch', 2: 'height', 3: 'width'}
            for name in ('features', 'identity', 'out')})
    if 'dynamo' in torch.onnx.export.__code__.co_varnames:
        export_args['dynamo'] = False
    torch.onnx.export(module, args, buffer, **export_args)
    return buffer.getvalue()


@pytest.mark.parametrize('form', EXPORT_SE_FORMS)
def test_export_forms_run_in_onnxruntime_at_other_batches_and_sizes(form):
    """Exported at batch 1 and one size, the file computes the block at
    other batches and sizes: nothing of the example input is frozen into
    the graph, which holds ONNX's own operators only."""
    import onnx
    import onnxruntime as ort
    reference, tail = se_tails(form)
    model = onnx_of(tail, (torch.randn(1, 16, 6, 8), torch.randn(1, 64, 6,
                                                                   8)))
    graph = onnx.load_from_string(model).graph
    assert {node.domain for node in graph.node} == {''}
    session = ort.InferenceSession(model, providers=['CPUExecutionProvider'])
    for batch, height, width in [(1, 6, 8), (2, 13, 5), (4, 1, 1)]:
        features = torch.randn(batch, 16, height, width)
        identity = torch.randn(batch, 64, height, width)
        out, = session.run(None, dict(features=features.numpy(),
                                      identity=identity.numpy()))
        with torch.no_grad():
            expected = reference(features, identity)
        torch.testing.assert_close(torch.from_numpy(out), expected,
                                   rtol=1e-5, atol=1e-5)


def nodes_reading(graph, name: str) -> set:
    return {node.op_type for node in graph.node if name in node.input}


def test_export_forms_read_what_they_promise():
    """'output' squeezes and gates the conv's output; 'narrow_squeeze'
    squeezes the conv's input; 'folded_gate' also scales the weights, so
    no full-size product with the gate is left: the conv is a matrix
    product of the scaled weights and the features."""
    import onnx
    args = (torch.randn(1, 16, 6, 8), torch.randn(1, 64, 6, 8))
    graphs = {
        form: onnx.load_from_string(onnx_of(se_tails(form)[1], args)).graph
        for form in EXPORT_SE_FORMS
    }
    ops = {form: [node.op_type for node in graph.node]
           for form, graph in graphs.items()}
    # The squeeze: of the wide output (ReduceMean after the Conv), or a
    # GlobalAveragePool of the 16-channel input.
    assert 'GlobalAveragePool' not in ops['output']
    for form in ('narrow_squeeze', 'folded_gate'):
        assert 'GlobalAveragePool' in nodes_reading(graphs[form],
                                                    'features')
        assert 'ReduceMean' not in ops[form]
    # The gate: a Mul on the conv's output, or folded into the weights of
    # a MatMul on the features (the only Conv left is the squeeze's).
    assert ops['narrow_squeeze'].count('Conv') == 2
    assert ops['folded_gate'].count('Conv') == 1
    assert ops['folded_gate'].count('MatMul') == 1
    graph = graphs['folded_gate']
    flattened, = [node.output[0] for node in graph.node
                  if node.op_type == 'Reshape' and 'features' in node.input]
    # The features with a row of ones appended, whose weight is the bias:
    # the only Add left on the wide output is the residual one.
    appended, = [node.output[0] for node in graph.node
                 if node.op_type == 'Concat' and flattened in node.input]
    assert nodes_reading(graph, appended) == {'MatMul'}
    assert ops['folded_gate'].count('Add') == 1


def test_export_form_is_checked():
    _, tail = se_tails('sideways')
    with pytest.raises(ValueError, match="form='sideways' is not supported"):
        tail(torch.randn(1, 16, 2, 2), torch.randn(1, 64, 2, 2))
