"""SE-ResNeXt: MMDetection's ResNeXt with a Squeeze-and-Excitation block.

The SE-ResNeXt-50/101 (32x4d) models of Hu et al. put the stride on the
grouped 3x3 convolution, which is mmdet's default ``style='pytorch'``.
"""
from typing import Any, Dict

from mmdet.models.backbones.resnext import Bottleneck as ResNeXtBottleneck
from mmdet.models.backbones.resnext import ResNeXt
from mmdet.registry import MODELS
from senet_mmdet.models.backbones.seresnet import (SEBottleneck, SEResNet,
                                                   se_arch_settings,
                                                   with_timm_depths)


class SEResNeXtBottleneck(SEBottleneck, ResNeXtBottleneck):
    """ResNeXt's grouped bottleneck with SE's residual branch and gate."""


@MODELS.register_module()
class SEResNeXt(SEResNet, ResNeXt):
    """SE-ResNeXt backbone (Hu et al., arXiv 1709.01507).

    Takes every argument of MMDetection's :class:`ResNeXt` (``groups`` and
    ``base_width`` with the same meaning: 32x4d is ``groups=32,
    base_width=4``) and the SE arguments of :class:`SEResNet`.

    Example:
        >>> import torch
        >>> from senet_mmdet.models import SEResNeXt
        >>> model = SEResNeXt(depth=50, groups=32, base_width=4).eval()
        >>> for feat in model(torch.rand(1, 3, 64, 64)):
        ...     print(tuple(feat.shape))
        (1, 256, 16, 16)
        (1, 512, 8, 8)
        (1, 1024, 4, 4)
        (1, 2048, 2, 2)
    """

    arch_settings = se_arch_settings(
        with_timm_depths(ResNeXt.arch_settings, ResNeXtBottleneck),
        {ResNeXtBottleneck: SEResNeXtBottleneck})

    def weight_conventions(self) -> Dict[str, Any]:
        return dict(super().weight_conventions(),
                    groups=self.groups,
                    base_width=self.base_width)
