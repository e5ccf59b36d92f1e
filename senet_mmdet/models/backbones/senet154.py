"""SENet-154, the ILSVRC 2017 winner's backbone (Hu et al., arXiv
1709.01507, appendix; the official SENet-154.prototxt).

SE-ResNeXt-152 (64 groups of width 4) with three changes, each mapped here
onto MMDetection's own pieces:

- a deep stem, 3x3/2 (64) -> 3x3 (64) -> 3x3 (128), which is mmdet's
  ``deep_stem=True`` with ``stem_channels=128``;
- the first 1x1 of each bottleneck halved: 128/256/512/1024 channels feed
  the grouped 3x3 of 256/512/1024/2048 (:class:`SENet154Bottleneck`);
- 3x3 stride-2 projection shortcuts where a stage downsamples, stages 3-5
  (:meth:`SENet154.make_res_layer`); stage 2's stays a 1x1 stride-1 conv.
"""
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import nn

from mmdet.models.backbones.resnext import Bottleneck as ResNeXtBottleneck
from mmdet.models.backbones.resnext import ResNeXt
from mmdet.models.layers import ResLayer
from mmdet.registry import MODELS
from senet_mmdet.models.backbones.seresnet import se_arch_settings
from senet_mmdet.models.backbones.seresnext import (SEResNeXt,
                                                    SEResNeXtBottleneck)


class SENet154Bottleneck(SEResNeXtBottleneck):
    """SE-ResNeXt bottleneck whose first 1x1 conv has half the grouped
    width."""

    def __init__(self, inplanes: int, planes: int, **kwargs) -> None:
        super().__init__(inplanes, planes, **kwargs)
        width = self.conv2.in_channels
        reduced = width // 2
        self.norm1_name, norm1 = build_norm_layer(
            self.norm_cfg, reduced, postfix=1)
        self.conv1 = build_conv_layer(
            self.conv_cfg,
            self.inplanes,
            reduced,
            kernel_size=1,
            stride=self.conv1_stride,
            bias=False)
        self.add_module(self.norm1_name, norm1)
        # The grouped 3x3 is rebuilt as mmdet built it: deformable where its
        # dcn config applied (DCN/DCNv2 in the given stages, as
        # PaddleDetection's SENet-154-vd detectors use), plain elsewhere.
        deformable = self.with_dcn and not isinstance(self.conv2, nn.Conv2d)
        self.conv2 = build_conv_layer(
            self.dcn if deformable else self.conv_cfg,
            reduced,
            width,
            kernel_size=3,
            stride=self.conv2_stride,
            padding=self.dilation,
            dilation=self.dilation,
            groups=self.conv2.groups,
            bias=False)
        if self.with_plugins:
            self._del_block_plugins(self.after_conv1_plugin_names)
            self.after_conv1_plugin_names = self.make_block_plugins(
                reduced, self.after_conv1_plugins)


@MODELS.register_module()
class SENet154(SEResNeXt):
    """SENet-154 backbone.

    Takes the detection arguments of :class:`SEResNet` (``out_indices``,
    ``frozen_stages``, ``norm_eval``, ``norm_cfg``, ``with_cp``, ``dcn``
    with ``stage_with_dcn``, the SE options, ...); depth, groups, width and
    stem are fixed by the architecture.

    Example:
        >>> import torch
        >>> from senet_mmdet.models import SENet154
        >>> model = SENet154().eval()
        >>> [tuple(f.shape) for f in model(torch.rand(1, 3, 64, 64))]
        [(1, 256, 16, 16), (1, 512, 8, 8), (1, 1024, 4, 4), (1, 2048, 2, 2)]
    """

    arch_settings = se_arch_settings(
        {154: ResNeXt.arch_settings[152]},
        {ResNeXtBottleneck: SENet154Bottleneck})

    def __init__(self, **kwargs) -> None:
        fixed = dict(
            depth=154,
            groups=64,
            base_width=4,
            deep_stem=True,
            stem_channels=128)
        clashes = {k: kwargs[k] for k in fixed if k in kwargs and
                   kwargs[k] != fixed[k]}
        if clashes:
            raise ValueError(
                f'SENet154: {clashes} contradict the architecture, which '
                f'fixes {fixed}; use SEResNeXt for other settings')
        kwargs.update(fixed)
        super().__init__(**kwargs)

    def make_res_layer(self, **kwargs) -> ResLayer:
        # mmdet's ResNeXt builds the ResLayer class itself, so the strided
        # 1x1 projection it makes is swapped for SENet-154's 3x3 here.
        layer = super().make_res_layer(**kwargs)
        downsample = layer[0].downsample
        if downsample is None:
            return layer
        projection = downsample[0]
        if isinstance(projection, nn.Conv2d) and projection.stride != (1, 1):
            downsample[0] = build_conv_layer(
                self.conv_cfg,
                projection.in_channels,
                projection.out_channels,
                kernel_size=3,
                stride=projection.stride,
                padding=1,
                bias=False)
        return layer
