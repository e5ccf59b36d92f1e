"""The SE block after a frozen BatchNorm and a pointwise last conv in plain
operations, the forms that ONNX export and TorchScript tracing record
(``se_export`` of the backbones; docs/deployment.md, "SE in the exported
file: se_export")."""
from typing import Tuple

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from senet_mmdet.models.layers.se import SqueezeExcitation
from senet_mmdet.models.layers.se_fused import (frozen_norm_affine,
                                                se_norm_residual_relu)
from senet_mmdet.utils import check_choice

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

