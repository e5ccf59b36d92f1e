"""The Squeeze-and-Excitation module of Hu et al., arXiv 1709.01507, Sec. 3.

The SE-ResNet blocks compute the same module in two more forms, each in its
own file: the fused BatchNorm + SE + residual training step
(:mod:`.se_fused`) and the plain operations an exported graph records
(:mod:`.se_export`)."""
import math
from typing import Callable, Dict, Optional, Type

import torch
from mmengine.model import BaseModule
from mmengine.registry import MODELS as MMENGINE_MODELS
from torch import Tensor, nn

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
# ResNet-50's by about 1 - g (tests/test_checkpoints/test_loading.py
# asserts < 1 %), while the sigmoid's slope there, g (1 - g), still lets
# training move the gates. What 0.995 and 0.99 gave: docs/benchmarks.md,
# "Numbers behind choices in the code".
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

    @staticmethod
    def start_all_near_identity(model: nn.Module) -> None:
        """:meth:`start_near_identity` for every SE module of ``model``."""
        for module in model.modules():
            if isinstance(module, SqueezeExcitation):
                module.start_near_identity()

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


# MMDetection's registry lists it with the other models. mmcv's plugin
# builder looks plugins up from the current default scope, which is unset
# when a backbone is built directly in Python; mmengine's root registry is
# the ancestor of every scope, so registering there too makes the plugin
# resolvable from mmdet, senet_mmdet, any other scope, and no scope at all.
MODELS.register_module(module=SqueezeExcitation)
MMENGINE_MODELS.register_module(module=SqueezeExcitation)
