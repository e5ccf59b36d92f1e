"""SE shared RoI head for C4 detectors.

The ResNet paper's Faster R-CNN ("basic Faster R-CNN" in the SE paper's
conference version) computes RPN and RoI pooling on conv4 and runs conv5 on
every RoI. With an SE backbone, conv5 must be the SE stage too, or the head
could not load the SE-pretrained conv5 weights.
"""
from typing import Any, Dict, Optional

from mmdet.models.layers import ResLayer
from mmdet.models.roi_heads.shared_heads import ResLayer as ResLayerHead
from mmdet.registry import MODELS
from senet_mmdet.models.backbones.seresnet import (SEResNet,
                                                   init_se_pretrained,
                                                   is_pretrained,
                                                   se_module_cfg)
from senet_mmdet.models.layers.se import SqueezeExcitation
from senet_mmdet.pretrained_target import PretrainedTarget
from senet_mmdet.utils import check_choice


@MODELS.register_module()
class SEResLayer(ResLayerHead, PretrainedTarget):
    """MMDetection's C4 shared head (``ResLayer``) with SE blocks.

    Takes the arguments of MMDetection's shared-head ``ResLayer`` with the
    same meaning, plus the SE arguments of :class:`SEResNet`.

    Args:
        depth (int): 50, 101 or 152; the head is stage ``stage + 1`` of the
            SE-ResNet of this depth, so its keys match that backbone's
            (``layer4.*`` for the default ``stage=3``).
        se_ratio, se_squeeze, se_gate, se_bias, se_position, fuse_se: As in
            :class:`SEResNet`.
        init_cfg (dict, optional): ``dict(type='Pretrained',
            checkpoint=...)`` loads the stage from the SE-ResNet weights
            the backbone loads (any port, converted and checked as the
            backbone's; the other stages' tensors are the backbone's).
    """

    def __init__(self,
                 depth: int,
                 stage: int = 3,
                 stride: int = 2,
                 dilation: int = 1,
                 style: str = 'pytorch',
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 with_cp: bool = False,
                 dcn: Optional[dict] = None,
                 se_ratio: int = 16,
                 se_squeeze: str = 'avg',
                 se_gate: str = 'sigmoid',
                 se_bias: bool = True,
                 se_position: str = 'standard',
                 fuse_se: bool = True,
                 **kwargs) -> None:
        owner = type(self).__name__
        # MMDetection's head takes any ResNet depth but only builds
        # bottlenecks correctly; 18 and 34 would fail on channel counts.
        check_choice(owner, 'depth', depth, (50, 101, 152))
        se_cfg = se_module_cfg(owner, se_ratio, se_squeeze, se_gate, se_bias,
                               se_position)
        # The parent builds the plain stage from ResNet's table, which it
        # reads directly; the stage is rebuilt below from the SE table with
        # the same widths, so every other behaviour of the head is kept.
        super().__init__(
            depth,
            stage=stage,
            stride=stride,
            dilation=dilation,
            style=style,
            norm_cfg=norm_cfg,
            with_cp=with_cp,
            dcn=dcn,
            **kwargs)
        self.depth = depth
        self.style = style
        self.se_cfg = se_cfg
        name = f'layer{stage + 1}'
        plain_stage = getattr(self, name)
        block, stage_blocks = SEResNet.arch_settings[depth]
        self.add_module(
            name,
            ResLayer(
                block,
                plain_stage[0].inplanes,
                plain_stage[0].planes,
                stage_blocks[stage],
                stride=stride,
                dilation=dilation,
                style=style,
                with_cp=with_cp,
                norm_cfg=norm_cfg,
                dcn=dcn,
                se_cfg=se_cfg,
                se_position=se_position,
                fuse_se=fuse_se))

    def weight_conventions(self) -> Dict[str, Any]:
        """Pretrained weights are SE-ResNet's: the arguments of that
        backbone which shape this stage are checked as for it."""
        return dict(
            type=SEResNet.__name__,
            depth=self.depth,
            style=self.style,
            se_ratio=self.se_cfg['ratio'])

    def start_se_near_identity(self) -> None:
        SqueezeExcitation.start_all_near_identity(self)

    def init_weights(self) -> None:
        # As SEResNet's: exact, converted, checked; this head takes only
        # its own stage of the weights.
        if is_pretrained(self.init_cfg):
            init_se_pretrained(
                self, self.init_cfg, modules=(f'layer{self.stage + 1}', ))
            return
        super().init_weights()

    def train(self, mode: bool = True) -> 'SEResLayer':
        # MMDetection's head returns None, which breaks `head = head.eval()`.
        super().train(mode)
        return self
