"""The Squeeze-and-Excitation module of Hu et al., arXiv 1709.01507, Sec. 3."""
import math
from typing import Callable, Dict, Optional, Tuple, Type

import torch
from mmengine.model import BaseModule
from mmengine.registry import MODELS as MMENGINE_MODELS
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet.registry import MODELS
from senet_mmdet.utils import check_choice, check_se_ratio

# Squeeze (Sec. 3.1): average pooling in the paper; max pooling is the
# ablation of Table 11 (22.57 vs 22.28 top-1 error).
SQUEEZES: Dict[str, Type[nn.Module]] = {
    'avg': nn.AdaptiveAvgPool2d,
    'max': nn.AdaptiveMaxPool2d,
}

# Excitation gate (Sec. 3.2): sigmoid in the paper; hard-sigmoid, the
# piecewise-linear relu6(x + 3) / 6, is the cheap gate of mobile networks.
GATES: Dict[str, Type[nn.Module]] = {
    'sigmoid': nn.Sigmoid,
    'hard_sigmoid': nn.Hardsigmoid,
}
# Each gate's inverse: the pre-activation at which it outputs g in (0, 1).
GATE_INVERSES: Dict[str, Callable[[float], float]] = {
    'sigmoid': lambda g: math.log(g / (1 - g)),
    'hard_sigmoid': lambda g: 6 * g - 3,
}
# Where an SE module started from plain ResNet weights sets its gate. The
# stage outputs of SE-ResNet-50 on ResNet-50's weights then differ from
# ResNet-50's by about 1 - g: 0.45-0.51 % measured at g = 0.995 (0.90-1.02 %
# at 0.99; tests/test_checkpoints/test_loading.py asserts < 1 %), while the
# sigmoid's slope there, g (1 - g), still lets training move the gates.
NEAR_IDENTITY_GATE = 0.995


def squeeze_channels(in_channels: int, ratio: int) -> int:
    """Width of the excitation bottleneck, ``C // r``.

    The official models use widths 256/512/1024/2048 with r = 16, for which
    ``C // r`` is exactly ``C / r`` (16/32/64/128).
    """
    check_se_ratio('SqueezeExcitation', 'ratio', ratio)
    if ratio > in_channels:
        raise ValueError(
            f'SqueezeExcitation: ratio={ratio} leaves no channel in the '
            f'excitation bottleneck of a {in_channels}-channel input '
            f'(in_channels // ratio = 0); choose a ratio from 1 to '
            f'{in_channels}')
    return in_channels // ratio


def linear_1x1(conv: nn.Conv2d, x: Tensor) -> Tensor:
    """``conv`` (a 1x1 convolution) applied to (N, C) vectors."""
    return nn.functional.linear(x, conv.weight.flatten(1), conv.bias)


class SqueezeExcitation(BaseModule):
    """Recalibrates channels: ``x * gate(fc2(relu(fc1(squeeze(x)))))``.

    The one SE module of this package: every SE block, shared head and the
    MMDetection plugin (``position='after_conv3'`` reproduces the standard
    SE-ResNet block) build this class. The two FCs are 1x1 convolutions with
    bias, as in the released Caffe models, and are named ``fc1``/``fc2`` as in
    timm's SE-ResNets.

    Args:
        in_channels (int): Channels C of the recalibrated feature map.
        ratio (int): Reduction r; the bottleneck has ``C // r`` channels.
            Defaults to 16, the paper's choice (Table 10).
        squeeze (str): ``'avg'`` (paper) or ``'max'`` global pooling.
        gate (str): ``'sigmoid'`` (paper) or ``'hard_sigmoid'``.
        bias (bool): Whether the two FCs have a bias. Defaults to True.
        init_cfg (dict, optional): Initialization config dict.
    """

    def __init__(self,
                 in_channels: int,
                 ratio: int = 16,
                 squeeze: str = 'avg',
                 gate: str = 'sigmoid',
                 bias: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        check_choice('SqueezeExcitation', 'squeeze', squeeze, SQUEEZES)
        check_choice('SqueezeExcitation', 'gate', gate, GATES)
        hidden = squeeze_channels(in_channels, ratio)
        self.squeeze = squeeze
        self.pool = SQUEEZES[squeeze](1)
        self.fc1 = nn.Conv2d(in_channels, hidden, kernel_size=1, bias=bias)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, in_channels, kernel_size=1, bias=bias)
        self.gate_name = gate
        self.gate = GATES[gate]()

    def start_near_identity(self, gate: float = NEAR_IDENTITY_GATE) -> None:
        """Scale every channel by ``gate`` whatever the input: fc2's weight
        zero, its bias at the gate's inverse of ``gate``. For an SE module
        added to pretrained plain weights, so that the network starts as
        the plain one; fc2's weight gets gradients from the first step
        (those of fc1 follow once fc2's weight is non-zero), as in the
        zero-initialised residual branches of Goyal et al. (arXiv
        1706.02677)."""
        if self.fc2.bias is None:
            raise ValueError(
                'SqueezeExcitation: starting near identity sets the second '
                "FC's bias, which this module lacks; build it with bias=True "
                '(se_bias=True in the backbones)')
        with torch.no_grad():
            self.fc2.weight.zero_()
            self.fc2.bias.fill_(GATE_INVERSES[self.gate_name](gate))

    def excite(self, squeezed: Tensor) -> Tensor:
        """The channel gate s, (N, C, 1, 1), from the squeezed descriptor."""
        # The 1x1 convs act on one pixel: as matrix products they skip the
        # convolution machinery, which costs more than the arithmetic here.
        scale = linear_1x1(self.fc1, squeezed.flatten(1))
        scale = self.relu(scale)
        scale = linear_1x1(self.fc2, scale)
        scale = self.gate(scale)
        return scale[:, :, None, None]

    def forward(self, x: Tensor) -> Tensor:
        squeezed = self.pool(x)
        scale = self.excite(squeezed)
        return x * scale


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
    # Same arithmetic, two orders: timed on 2 CPU cores, the per-channel
    # operand broadcasts faster as addcmul's first argument for
    # channels_last tensors (about 2x at 8x256x56x56), the full-size one
    # for NCHW tensors.
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
    its channels are the (sample, channel) pairs. Timed on 2 CPU cores it is
    3-5x faster than a batched dot product and a sum.
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
    stages at 224x224 and batch 1 (reading the weight once more cost
    SE-ResNet-50 about 3 % there). A traced or exported graph, which would
    freeze the choice for one input size, reads the output.
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


# How an SE block after a frozen BatchNorm and a pointwise last conv is
# written into an ONNX graph (export_se_conv_norm_residual_relu):
# 'output', the eager arithmetic (the squeeze reads the conv's output, the
# gate multiplies it); 'narrow_squeeze', the squeeze from the conv's
# narrow input; 'folded_gate', that squeeze and the gate folded into the
# conv's weights.
EXPORT_SE_FORMS = ('output', 'narrow_squeeze', 'folded_gate')


def folded_conv_norm(conv: nn.Conv2d,
                     norm: _BatchNorm) -> Tuple[Tensor, Tensor]:
    """Weight (C_out, C_in, 1, 1) and bias (C_out,) of the one 1x1
    convolution that computes ``norm(conv(x))`` for a frozen ``norm``."""
    a, b = frozen_norm_affine(norm)
    return conv.weight * a.view(-1, 1, 1, 1), b.flatten()


def export_se_conv_norm_residual_relu(se: SqueezeExcitation, conv: nn.Conv2d,
                                      features: Tensor, norm: _BatchNorm,
                                      identity: Tensor, form: str) -> Tensor:
    """``relu(se(norm(conv(features))) + identity)`` in plain operations
    for an exported graph, for a frozen ``norm``, a pointwise ``conv``
    (:func:`is_pointwise_conv`) and an average-pooling ``se``.

    With ``norm(conv(x)) = W' x + b'`` (``W'``, ``b'`` constants of the
    graph, :func:`folded_conv_norm`), the squeeze is ``W' mean(x) + b'``,
    a mean over the conv's input, four times narrower than its output in a
    bottleneck, at any input size (``'narrow_squeeze'``, ``'folded_gate'``);
    and ``(W' x + b') s = (s W') x + s b'`` per sample and channel, so the
    gate can scale the conv's weights and bias instead of its output
    (``'folded_gate'``; a batched matrix product, one weight per sample,
    keeps the batch dynamic; the bias is the weight of a row of ones).
    ``'output'`` writes the eager arithmetic.
    """
    check_choice('export_se_conv_norm_residual_relu', 'form', form,
                 EXPORT_SE_FORMS)
    if form == 'output':
        out = conv(features)
        return se_norm_residual_relu(se, out, norm, identity)
    weight, bias = folded_conv_norm(conv, norm)
    pooled = nn.functional.adaptive_avg_pool2d(features, 1)
    gate = se.excite(nn.functional.conv2d(pooled, weight, bias))
    if form == 'narrow_squeeze':
        out = nn.functional.conv2d(features, weight, bias)
        return (out * gate + identity).relu()
    # The bias enters the product as the weight of a row of ones appended
    # to the narrow input: adding it to the product would be one more pass
    # over the wide output (onnxruntime fuses no add into a MatMul).
    weight_and_bias = torch.cat([weight.flatten(1), bias[:, None]], dim=1)
    scaled_weight = weight_and_bias * gate.flatten(1)[:, :, None]
    flat = features.flatten(2)
    ones = torch.ones_like(flat[:, :1])
    out = torch.matmul(scaled_weight, torch.cat([flat, ones], dim=1))
    return (out.view_as(identity) + identity).relu()


# MMDetection's registry lists it with the other models. mmcv's plugin
# builder looks plugins up from the current default scope, which is unset
# when a backbone is built directly in Python; mmengine's root registry is
# the ancestor of every scope, so registering there too makes the plugin
# resolvable from mmdet, senet_mmdet, any other scope, and no scope at all.
MODELS.register_module(module=SqueezeExcitation)
MMENGINE_MODELS.register_module(module=SqueezeExcitation)
