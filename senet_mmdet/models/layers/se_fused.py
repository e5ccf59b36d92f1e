"""The SE block after a BatchNorm as one fused step: ``relu(se(norm(x)) +
identity)`` computed from ``x`` without materialising ``norm(x)`` or its
product with the gate, through autograd Functions that keep only the
tensors the plain ResNet block keeps (DEVELOPERS.md, "The fused SE step
(performance)")."""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from senet_mmdet.models.layers.se import SqueezeExcitation, linear_1x1


def norm_affine(norm: _BatchNorm, mean: Tensor,
                var: Tensor) -> Tuple[Tensor, Tensor]:
    """``(a, b)``, each (1, C, 1, 1), with ``norm(x) == a * x + b`` for a
    BatchNorm normalising with per-channel ``mean`` and ``var``."""
    a = torch.rsqrt(var + norm.eps)
    if norm.weight is not None:
        a = a * norm.weight
    b = -mean * a
    if norm.bias is not None:
        b = b + norm.bias
    return a.view(1, -1, 1, 1), b.view(1, -1, 1, 1)


def frozen_norm_affine(norm: _BatchNorm) -> Tuple[Tensor, Tensor]:
    """:func:`norm_affine` of a BatchNorm that normalises with its running
    statistics (eval mode)."""
    return norm_affine(norm, norm.running_mean, norm.running_var)


def is_frozen_batchnorm(norm: nn.Module) -> bool:
    """Whether ``norm`` is a BatchNorm using its running statistics."""
    return (isinstance(norm, _BatchNorm) and not norm.training
            and norm.running_var is not None)


def scaled_residual_relu(x: Tensor, weight: Tensor, bias: Tensor,
                         identity: Tensor) -> Tensor:
    """``relu(x * weight + bias + identity)``, per-channel ``weight`` and
    ``bias`` of shape (N, C, 1, 1), in one full-size temporary."""
    # Same arithmetic, two orders: the per-channel operand broadcasts
    # faster as addcmul's first argument for channels_last tensors, the
    # full-size one for NCHW tensors (docs/benchmarks.md, "Numbers behind
    # choices in the code").
    if x.is_contiguous(memory_format=torch.channels_last):
        out = torch.addcmul(bias, x, weight)
        out += identity
    else:
        out = torch.addcmul(identity, x, weight)
        out += bias
    return out.relu_()


class _ScaledResidualReLU(torch.autograd.Function):
    """:func:`scaled_residual_relu`, saving only ``x`` and the output.

    Autograd on the same expression would also keep ``x * weight``, a
    full-size tensor; here backward recomputes what it needs from ``x``, which
    the frozen BatchNorm it replaces would have kept anyway, and the output,
    which the next layer keeps anyway.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor,
                identity: Tensor) -> Tensor:
        out = scaled_residual_relu(x, weight, bias, identity)
        ctx.save_for_backward(x, weight, out)
        # Decided here: torch 2.1's torch.compile cannot trace a tensor's
        # is_contiguous() inside a Function's backward (fullgraph fails).
        ctx.x_is_contiguous = x.is_contiguous()
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, weight, out = ctx.saved_tensors
        # The ReLU's backward, in one pass, as autograd's own.
        grad = torch.ops.aten.threshold_backward(grad_out, out, 0)
        grad_x = grad * weight
        if ctx.x_is_contiguous:
            grad_weight, grad_bias = sample_channel_sums(grad.contiguous(), x)
        else:
            grad_weight = (grad * x).sum(dim=(2, 3), keepdim=True)
            grad_bias = grad.sum(dim=(2, 3), keepdim=True)
        return grad_x, grad_weight, grad_bias, grad


def sample_channel_sums(grad: Tensor, x: Tensor) -> Tuple[Tensor, Tensor]:
    """``(sum(grad * x), sum(grad))`` over H and W, (N, C, 1, 1) each, for
    contiguous NCHW tensors, in one pass and no full-size temporary.

    BatchNorm's backward reduction computes exactly these two sums per
    channel when given mean 0 and inverse std 1; on a (1, N*C, H, W) view
    its channels are the (sample, channel) pairs. It is faster than a
    batched dot product and a sum (docs/benchmarks.md, "Numbers behind
    choices in the code").
    """
    batch, channels, height, width = x.shape
    pairs = batch * channels
    zeros = x.new_zeros(pairs)
    ones = x.new_ones(pairs)
    _, grad_x_sum, grad_sum = torch.ops.aten.native_batch_norm_backward(
        grad.view(1, pairs, height, width), x.view(1, pairs, height, width),
        None, None, None, zeros, ones, True, 0.0, [False, True, True])
    return (grad_x_sum.view(batch, channels, 1, 1),
            grad_sum.view(batch, channels, 1, 1))


def is_live_batchnorm(norm: nn.Module) -> bool:
    """Whether ``norm`` is a torch BatchNorm2d normalising with the batch's
    statistics (training mode, or no running statistics kept).

    Exactly ``nn.BatchNorm2d``: SyncBatchNorm's statistics span processes,
    and a subclass may normalise otherwise.
    """
    return type(norm) is nn.BatchNorm2d and (norm.training
                                            or norm.running_var is None)


def _sample_moments(x: Tensor) -> Tuple[Tensor, Tensor]:
    """Spatial mean and mean square of ``x``, (N, C) each, accumulated and
    returned in at least float32 (half-precision moments would lose the
    variance), reading ``x`` twice."""
    # torch.promote_types(x.dtype, torch.float32), which torch 2.1's
    # torch.compile cannot trace.
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    mean = x.mean(dim=(2, 3), dtype=dtype)
    if x.is_contiguous():
        # A norm reduces NCHW rows without squaring into a full-size
        # temporary; on channels_last tensors it is slower than one.
        mean_square = torch.linalg.vector_norm(
            x, dim=(2, 3), dtype=dtype).square()
        mean_square = mean_square / (x.shape[2] * x.shape[3])
    else:
        mean_square = x.square().mean(dim=(2, 3), dtype=dtype)
    return mean, mean_square


class _SampleMoments(torch.autograd.Function):
    """:func:`_sample_moments`, whose backward is one pass over ``x``.

    Autograd on the same expressions would go through several full-size
    temporaries; the gradient is a per-(sample, channel) affine function of
    ``x``: ``g_mean / HW + x * 2 g_square / HW``.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tuple[Tensor, Tensor]:
        ctx.save_for_backward(x)
        return _sample_moments(x)

    @staticmethod
    def backward(ctx, grad_mean: Tensor, grad_mean_square: Tensor):
        x, = ctx.saved_tensors
        pixels = x.shape[2] * x.shape[3]
        shift = grad_mean / pixels
        scale = grad_mean_square * (2 / pixels)
        return torch.addcmul(shift.to(x.dtype)[:, :, None, None], x,
                             scale.to(x.dtype)[:, :, None, None])


def batch_norm_affine(norm: nn.BatchNorm2d, sample_mean: Tensor,
                      sample_mean_square: Tensor,
                      pixels: int) -> Tuple[Tensor, Tensor]:
    """``(a, b)``, each (1, C, 1, 1), with ``norm(x) == a * x + b`` for a
    BatchNorm normalising with the batch's statistics, from the per-sample
    moments of ``x`` over its ``pixels = H * W`` positions; updates the
    running statistics as ``norm`` would.

    The variance is the mean square less the squared mean, which loses
    digits where a channel's mean dwarfs its spread (relative error about
    float epsilon times mean^2 / variance); BatchNorm's own kernel does not.
    """
    mean = sample_mean.mean(dim=0)
    var = sample_mean_square.mean(dim=0) - mean.square()
    if norm.training and norm.track_running_stats:
        # _BatchNorm.forward's bookkeeping: momentum None is a cumulative
        # average, and the running variance is the unbiased one.
        norm.num_batches_tracked.add_(1)
        factor = norm.momentum
        if factor is None:
            factor = 1.0 / float(norm.num_batches_tracked)
        count = sample_mean.shape[0] * pixels
        with torch.no_grad():
            norm.running_mean.lerp_(mean.to(norm.running_mean.dtype), factor)
            unbiased = var * (count / (count - 1))
            norm.running_var.lerp_(unbiased.to(norm.running_var.dtype),
                                   factor)
    return norm_affine(norm, mean, var)


def is_compiling() -> bool:
    """Whether torch.compile is tracing the caller (torch 2.1 spells it in
    ``torch._dynamo`` only)."""
    check = getattr(torch.compiler, 'is_compiling', None)
    return check() if check is not None else torch._dynamo.is_compiling()


def is_exporting() -> bool:
    """Whether TorchScript or ONNX export is recording the caller."""
    return (torch.jit.is_tracing() or torch.jit.is_scripting()
            or torch.onnx.is_in_onnx_export())


def _keeps_graph(*tensors: Tensor) -> bool:
    """Whether the fused step must record a backward: a gradient will flow,
    and nothing is capturing the graph as plain operations instead.

    TorchScript (``torch.jit.trace(...).save()``) and ONNX export cannot
    hold a Python autograd Function, inference needs no backward, and
    torch.compile fuses plain operations better than it can see through a
    Function; they all get the same arithmetic as plain operations.
    """
    return (torch.is_grad_enabled()
            and any(tensor.requires_grad for tensor in tensors)
            and not is_exporting() and not is_compiling())


def is_pointwise_conv(conv: nn.Module) -> bool:
    """Whether ``conv`` is a bias-free 1x1 convolution with stride 1, no
    padding and one group: a linear map of each pixel alone, which
    commutes with the spatial mean."""
    return (type(conv) is nn.Conv2d and conv.kernel_size == (1, 1)
            and conv.stride == (1, 1) and conv.padding == (0, 0)
            and conv.groups == 1 and conv.bias is None)


def conv_output_mean(conv: nn.Module, conv_input: Tensor,
                     conv_output: Tensor) -> Tensor:
    """The spatial mean of ``conv_output = conv(conv_input)``, (N, C, 1, 1).

    A bias-free 1x1 convolution with stride 1 is linear and acts on each
    pixel alone, so it commutes with the mean: for a bottleneck's last conv
    the mean can be taken over its input, four times narrower than its
    output, and mapped through the conv's weight. That reads fewer elements
    only where the feature map outweighs the weight: ``N*H*W*(C_out - C_in)
    > C_out*C_in``, true for detection-size maps and false for the last
    stages at 224x224 and batch 1, where reading the weight once more
    costs time (docs/benchmarks.md, "Numbers behind choices in the code").
    A traced or exported graph, which would freeze the choice for one input
    size, reads the output.
    """
    if is_pointwise_conv(conv) and not is_exporting():
        batch, in_channels, height, width = conv_input.shape
        out_channels = conv.out_channels
        if (batch * height * width * (out_channels - in_channels) >
                out_channels * in_channels):
            input_mean = conv_input.mean(dim=(2, 3))
            return linear_1x1(conv, input_mean)[:, :, None, None]
    return conv_output.mean(dim=(2, 3), keepdim=True)


def se_norm_residual_relu(se: SqueezeExcitation,
                          x: Tensor,
                          norm: _BatchNorm,
                          identity: Tensor,
                          x_mean: Optional[Tensor] = None) -> Tensor:
    """``relu(se(norm(x)) + identity)`` for a BatchNorm ``norm`` and an
    average-pooling ``se``, without materialising ``norm(x)`` or its product
    with the gate: with ``norm(x) = a x + b`` per channel the squeeze is
    ``a mean(x) + b`` (the mean is linear), and the output is
    ``relu(x (a s) + b s + identity)``.

    A frozen ``norm`` (:func:`is_frozen_batchnorm`) gives ``a, b`` from its
    running statistics; a live one (:func:`is_live_batchnorm`) from the
    batch's, computed from per-sample moments of ``x`` whose backward is
    one pass, with its running statistics updated as it would update them.
    Either way the result equals the straightforward block to float
    rounding, in outputs and gradients (including those of the norm's
    weight and bias), and keeps the tensors that the plain ResNet block
    keeps: ``x`` and the output. ``x_mean``, the spatial mean of ``x`` if
    the caller has it more cheaply (:func:`conv_output_mean`), saves reading
    ``x`` once more after a frozen norm.
    """
    if is_frozen_batchnorm(norm):
        a, b = frozen_norm_affine(norm)
        if x_mean is None:
            x_mean = x.mean(dim=(2, 3), keepdim=True)
    elif not is_live_batchnorm(norm):
        raise ValueError(
            f'se_norm_residual_relu: {type(norm).__name__} in '
            f'{"training" if norm.training else "eval"} mode is neither a '
            'frozen BatchNorm nor a live nn.BatchNorm2d; use the '
            'straightforward block (fuse_se=False)')
    else:
        pixels = x.shape[2] * x.shape[3]
        # BatchNorm's own check wherever it uses the batch's statistics.
        if x.shape[0] * pixels == 1:
            raise ValueError(
                'Expected more than 1 value per channel when training, got '
                f'input size {tuple(x.shape)}')
        if _keeps_graph(x):
            moments = _SampleMoments.apply(x)
        else:
            moments = _sample_moments(x)
        a, b = batch_norm_affine(norm, *moments, pixels)
        x_mean = moments[0][:, :, None, None]
    squeezed = x_mean * a + b
    gate = se.excite(squeezed)
    # In x's dtype: under AMP the norm's statistics stay float32 while x is
    # half precision, and mixing them would promote the whole feature map.
    weight = (a * gate).to(x.dtype)
    bias = (b * gate).to(x.dtype)
    if _keeps_graph(x, weight, bias, identity):
        return _ScaledResidualReLU.apply(x, weight, bias, identity)
    return scaled_residual_relu(x, weight, bias, identity)

