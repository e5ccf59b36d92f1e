import copy

import pytest
import torch
from torch import nn

from senet_mmdet.models.layers import SqueezeExcitation
from senet_mmdet.models.layers.se_fused import (
    conv_output_mean, is_frozen_batchnorm, is_live_batchnorm,
    is_pointwise_conv, sample_channel_sums, se_norm_residual_relu)
from .utils import frozen_bn


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


@pytest.mark.parametrize('conv, pointwise', [
    (nn.Conv2d(16, 64, 1, bias=False), True),
    (nn.Conv2d(16, 64, 1, bias=True), False),
    (nn.Conv2d(16, 64, 3, padding=1, bias=False), False),
    (nn.Conv2d(16, 64, 1, stride=2, bias=False), False),
    (nn.Conv2d(16, 64, 1, groups=4, bias=False), False),
])
def test_is_pointwise_conv(conv, pointwise):
    assert is_pointwise_conv(conv) is pointwise
