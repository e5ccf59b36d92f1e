import copy
import io
import re

import pytest
import torch
from mmcv.cnn import build_plugin_layer
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import DefaultScope
from torch import nn

from mmdet.registry import MODELS
from senet_mmdet.models.layers import SqueezeExcitation
from senet_mmdet.models.layers.se import (
    EXPORT_SE_FORMS, conv_output_mean, export_se_conv_norm_residual_relu,
    is_frozen_batchnorm, is_live_batchnorm, is_pointwise_conv,
    sample_channel_sums, se_norm_residual_relu)


def reference_se(module: SqueezeExcitation, x: torch.Tensor) -> torch.Tensor:
    """The paper's equations (2)-(4) written out with functional ops."""
    pooled = x.mean(dim=(2, 3)) if isinstance(
        module.pool, nn.AdaptiveAvgPool2d) else x.amax(dim=(2, 3))
    w1 = module.fc1.weight.flatten(1)
    w2 = module.fc2.weight.flatten(1)
    hidden = torch.relu(nn.functional.linear(pooled, w1, module.fc1.bias))
    logits = nn.functional.linear(hidden, w2, module.fc2.bias)
    gate = torch.sigmoid(logits) if isinstance(
        module.gate, nn.Sigmoid) else nn.functional.hardsigmoid(logits)
    return x * gate[:, :, None, None]


@pytest.mark.parametrize('squeeze', ['avg', 'max'])
@pytest.mark.parametrize('gate', ['sigmoid', 'hard_sigmoid'])
def test_se_matches_paper_equations(squeeze, gate):
    torch.manual_seed(0)
    se = SqueezeExcitation(64, ratio=16, squeeze=squeeze, gate=gate)
    x = torch.randn(2, 64, 7, 9)
    out = se(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, reference_se(se, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('channels, squeeze_width',
                         [(256, 16), (512, 32), (1024, 64), (2048, 128)])
def test_se_squeeze_width_is_exact_for_official_widths(channels,
                                                       squeeze_width):
    se = SqueezeExcitation(channels)
    assert se.fc1.weight.shape == (squeeze_width, channels, 1, 1)
    assert se.fc2.weight.shape == (channels, squeeze_width, 1, 1)
    # Biased FCs, as in the released models: 2 C^2 / r + C / r + C.
    n_params = sum(p.numel() for p in se.parameters())
    assert n_params == 2 * channels * squeeze_width + squeeze_width + channels


def test_se_without_bias():
    se = SqueezeExcitation(256, bias=False)
    assert se.fc1.bias is None and se.fc2.bias is None
    assert sum(p.numel() for p in se.parameters()) == 2 * 256 * 16


def test_se_gradients_match_reference():
    torch.manual_seed(0)
    se = SqueezeExcitation(32, ratio=4)
    x = torch.randn(2, 32, 5, 5, requires_grad=True)
    (grad, ) = torch.autograd.grad(se(x).square().sum(), x)
    x_ref = x.detach().clone().requires_grad_()
    (grad_ref, ) = torch.autograd.grad(
        reference_se(se, x_ref).square().sum(), x_ref)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('kwargs, message', [
    (dict(ratio=0), 'ratio=0 must be a positive integer'),
    (dict(ratio=-4), 'ratio=-4 must be a positive integer'),
    (dict(ratio=2.5), 'ratio=2.5 must be a positive integer'),
    (dict(ratio='16'), "ratio='16' must be a positive integer"),
    (dict(ratio=True), 'ratio=True must be a positive integer'),
    (dict(ratio=128), 'ratio=128 leaves no channel'),
    (dict(squeeze='median'), "squeeze='median' is not supported; "
     "choose one of ('avg', 'max')"),
    (dict(gate='relu'), "gate='relu' is not supported; "
     "choose one of ('sigmoid', 'hard_sigmoid')"),
])
def test_se_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SqueezeExcitation(64, **kwargs)


def test_se_registered_in_mmdet_and_root_registries():
    assert MODELS.get('SqueezeExcitation') is SqueezeExcitation
    assert 'SqueezeExcitation' in MODELS.module_dict
    assert MMENGINE_MODELS.get('SqueezeExcitation') is SqueezeExcitation
    se = MODELS.build(dict(type='SqueezeExcitation', in_channels=64))
    assert isinstance(se, SqueezeExcitation)


@pytest.mark.parametrize('scope', [None, 'mmdet', 'senet_mmdet'])
def test_se_found_by_mmcv_plugin_builder(scope):
    cfg = dict(type='SqueezeExcitation', ratio=8)
    if scope is None:
        name, layer = build_plugin_layer(cfg, in_channels=64)
    else:
        with DefaultScope.overwrite_default_scope(scope):
            name, layer = build_plugin_layer(cfg, in_channels=64)
    assert name == 'squeeze_excitation'
    assert isinstance(layer, SqueezeExcitation)
    assert layer.fc1.out_channels == 8


def frozen_bn(channels: int) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels)
    with torch.no_grad():
        norm.weight.uniform_(-1.5, 1.5)  # negative scales too
        norm.bias.uniform_(-1, 1)
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
    return norm.eval()


def fused_and_straightforward(se, norm, ref_norm, x, identity):
    """The fused step on leaf copies of ``x`` and ``identity``, and the
    straightforward block (with ``ref_norm``) on other leaf copies:
    ``(inputs, ref_inputs, out, ref)``."""
    inputs = [t.clone().requires_grad_() for t in (x, identity)]
    ref_inputs = [t.clone().requires_grad_() for t in (x, identity)]
    out = se_norm_residual_relu(se, inputs[0], norm, inputs[1])
    ref = torch.relu(se(ref_norm(ref_inputs[0])) + ref_inputs[1])
    return inputs, ref_inputs, out, ref


@pytest.mark.parametrize('memory_format',
                         [torch.contiguous_format, torch.channels_last])
def test_fused_se_equals_straightforward_in_outputs_and_gradients(
        memory_format):
    torch.manual_seed(0)
    se = SqueezeExcitation(64, ratio=4)
    norm = frozen_bn(64)
    x = torch.randn(2, 64, 9, 11).to(memory_format=memory_format)
    identity = torch.randn(2, 64, 9, 11).to(memory_format=memory_format)
    inputs, ref_inputs, out, ref = fused_and_straightforward(
        se, norm, norm, x, identity)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)

    grad_out = torch.randn_like(ref)
    params = [*se.parameters(), *norm.parameters()]
    grads = torch.autograd.grad(out, inputs + params, grad_out)
    ref_grads = torch.autograd.grad(ref, ref_inputs + params, grad_out)
    for grad, ref_grad in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-5)


def test_fused_se_without_norm_affine():
    torch.manual_seed(0)
    se = SqueezeExcitation(32, ratio=4)
    norm = nn.BatchNorm2d(32, affine=False).eval()
    norm.running_var.fill_(2.)
    x, identity = torch.randn(1, 32, 5, 5), torch.randn(1, 32, 5, 5)
    torch.testing.assert_close(
        se_norm_residual_relu(se, x, norm, identity),
        torch.relu(se(norm(x)) + identity),
        rtol=1e-5,
        atol=1e-6)


def live_bn(channels: int, **kwargs) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels, **kwargs).double()
    if norm.affine:
        with torch.no_grad():
            norm.weight.uniform_(-1.5, 1.5)
            norm.bias.uniform_(-1, 1)
    return norm


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(momentum=None),
    dict(affine=False),
    dict(track_running_stats=False),
])
@pytest.mark.parametrize('memory_format',
                         [torch.contiguous_format, torch.channels_last])
def test_fused_se_after_live_batchnorm_is_exact(kwargs, memory_format):
    """BatchNorm in training mode: the batch's statistics come from
    per-sample moments; outputs, gradients of every input and parameter,
    running statistics and batch counts equal the straightforward block's
    in float64 over two steps. Offset inputs: the mean-square formula of
    the variance must not lose it."""
    torch.manual_seed(0)
    se = SqueezeExcitation(32, ratio=4).double()
    norm = live_bn(32, **kwargs)
    ref_norm = copy.deepcopy(norm)
    assert is_live_batchnorm(norm)
    params = list(se.parameters())
    for _ in range(2):
        x = torch.randn(3, 32, 7, 9, dtype=torch.float64) * 2 + 3
        identity = torch.randn(3, 32, 7, 9, dtype=torch.float64)
        x, identity = (t.to(memory_format=memory_format)
                       for t in (x, identity))
        inputs, ref_inputs, out, ref = fused_and_straightforward(
            se, norm, ref_norm, x, identity)
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
        grad_out = torch.randn_like(ref)
        grads = torch.autograd.grad(
            out, inputs + params + list(norm.parameters()), grad_out)
        ref_grads = torch.autograd.grad(
            ref, ref_inputs + params + list(ref_norm.parameters()), grad_out)
        for grad, ref_grad in zip(grads, ref_grads):
            torch.testing.assert_close(grad, ref_grad, rtol=1e-10,
                                       atol=1e-10)
    for buffer, ref_buffer in zip(norm.buffers(), ref_norm.buffers()):
        torch.testing.assert_close(buffer, ref_buffer, rtol=1e-12, atol=0)


def test_fused_se_after_live_batchnorm_without_grad():
    """Inference with batch statistics (no running statistics kept) takes
    the same arithmetic as plain operations."""
    torch.manual_seed(0)
    se = SqueezeExcitation(16, ratio=4).double()
    norm = live_bn(16, track_running_stats=False).eval()
    x = torch.randn(2, 16, 5, 6, dtype=torch.float64)
    identity = torch.randn_like(x)
    with torch.no_grad():
        torch.testing.assert_close(
            se_norm_residual_relu(se, x, norm, identity),
            torch.relu(se(norm(x)) + identity))


@pytest.mark.parametrize('norm', [
    nn.BatchNorm2d(16),
    nn.BatchNorm2d(16, track_running_stats=False).eval(),
])
def test_fused_se_after_live_batchnorm_needs_two_values_per_channel(norm):
    """As BatchNorm itself, wherever it uses the batch's statistics."""
    se = SqueezeExcitation(16, ratio=4)
    x = torch.randn(1, 16, 1, 1)
    for block in (lambda: norm(x),
                  lambda: se_norm_residual_relu(se, x, norm, x)):
        with pytest.raises(ValueError, match='more than 1 value per channel'):
            block()


def test_fused_se_refuses_a_norm_it_cannot_fuse():
    se = SqueezeExcitation(16, ratio=4)
    x = torch.randn(2, 16, 3, 3)
    with pytest.raises(ValueError, match='SyncBatchNorm in training mode'):
        se_norm_residual_relu(se, x, nn.SyncBatchNorm(16).train(), x)


def test_sample_channel_sums():
    torch.manual_seed(0)
    grad, x = torch.randn(2, 8, 5, 7), torch.randn(2, 8, 5, 7)
    grad_x_sum, grad_sum = sample_channel_sums(grad, x)
    torch.testing.assert_close(grad_x_sum,
                               (grad * x).sum(dim=(2, 3), keepdim=True))
    torch.testing.assert_close(grad_sum, grad.sum(dim=(2, 3), keepdim=True))


def test_is_live_batchnorm():
    assert is_live_batchnorm(nn.BatchNorm2d(8).train())
    assert is_live_batchnorm(
        nn.BatchNorm2d(8, track_running_stats=False).eval())
    assert not is_live_batchnorm(nn.BatchNorm2d(8).eval())
    # Statistics across processes: left to the straightforward block.
    assert not is_live_batchnorm(nn.SyncBatchNorm(8).train())
    assert not is_live_batchnorm(nn.GroupNorm(2, 8).train())


def test_is_frozen_batchnorm():
    assert is_frozen_batchnorm(nn.BatchNorm2d(8).eval())
    assert is_frozen_batchnorm(nn.SyncBatchNorm(8).eval())
    assert not is_frozen_batchnorm(nn.BatchNorm2d(8).train())
    assert not is_frozen_batchnorm(
        nn.BatchNorm2d(8, track_running_stats=False).eval())
    assert not is_frozen_batchnorm(nn.GroupNorm(2, 8).eval())


@pytest.mark.parametrize('conv, reads_input', [
    (nn.Conv2d(16, 64, 1, bias=False), True),
    (nn.Conv2d(16, 64, 1, bias=True), False),
    (nn.Conv2d(16, 64, 3, padding=1, bias=False), False),
    (nn.Conv2d(16, 64, 1, stride=2, bias=False), False),
])
def test_conv_output_mean(conv, reads_input):
    """A bias-free stride-1 1x1 conv commutes with the spatial mean, so the
    narrower input is averaged; any other conv averages its output."""
    torch.manual_seed(0)
    x = torch.randn(2, 16, 10, 12)
    out = conv(x)
    expected = out.mean(dim=(2, 3), keepdim=True)
    if reads_input:
        out = torch.full_like(out, float('nan'))  # must not be read
    torch.testing.assert_close(
        conv_output_mean(conv, x, out), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('size, reads_input', [(4, False), (6, True)])
def test_conv_output_mean_reads_the_fewer_elements(size, reads_input):
    """Through the weight only where the map outweighs it: a 16 -> 64 conv
    reads N*H*W*(64 - 16) elements fewer and 64*16 more; 1x4x4 (768 <
    1024) averages the output, 1x6x6 (1728) the input."""
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 64, 1, bias=False)
    x = torch.randn(1, 16, size, size)
    out = conv(x)
    expected = out.mean(dim=(2, 3), keepdim=True)
    poisoned = torch.full_like(out, float('nan'))
    mean = conv_output_mean(conv, x, poisoned)
    assert bool(torch.isnan(mean).any()) is not reads_input
    if reads_input:
        torch.testing.assert_close(mean, expected, rtol=1e-5, atol=1e-6)


def test_conv_output_mean_of_grouped_conv_reads_the_output():
    conv = nn.Conv2d(16, 64, 1, groups=4, bias=False)
    x = torch.randn(2, 16, 6, 6)
    out = conv(x)
    torch.testing.assert_close(
        conv_output_mean(conv, x, out), out.mean(dim=(2, 3), keepdim=True))


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


@pytest.mark.parametrize('conv, pointwise', [
    (nn.Conv2d(16, 64, 1, bias=False), True),
    (nn.Conv2d(16, 64, 1, bias=True), False),
    (nn.Conv2d(16, 64, 3, padding=1, bias=False), False),
    (nn.Conv2d(16, 64, 1, stride=2, bias=False), False),
    (nn.Conv2d(16, 64, 1, groups=4, bias=False), False),
])
def test_is_pointwise_conv(conv, pointwise):
    assert is_pointwise_conv(conv) is pointwise
