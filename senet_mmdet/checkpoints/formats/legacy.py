"""The original PyTorch ports of the official Caffe models (Cadene's
``pretrainedmodels``) and timm's ``legacy_*`` models, which share their
code: the stem under ``layer0``, SE modules named ``se_module``, the
classifier ``last_linear``.

Ported from Caffe, they keep its stride placement (SE-ResNets on the first
1x1, SE-ResNeXts and SENet-154 on the grouped 3x3) and its unpadded,
ceil-mode stem pool, but take RGB input with the ImageNet mean and std.
"""
from typing import Dict, Optional

from torch import Tensor

from ..common import (BLOCK, DEEP_STEM, IMAGENET_RGB, OURS, CheckpointFormat,
                      Conventions, Converted, register_format, rename,
                      renamed_stem)

RULES = [
    (rf'{BLOCK}\.se_module\.(fc[12])\.(weight|bias)', r'\1.se.\2.\3'),
    *OURS,
]
# SENet-154's three 3x3 stem convs and their norms.
LEGACY_DEEP_STEM = ('layer0.conv1', 'layer0.bn1', 'layer0.conv2',
                    'layer0.bn2', 'layer0.conv3', 'layer0.bn3')


@register_format
class LegacyFormat(CheckpointFormat):
    name = 'legacy'
    key_names = ('``layer0.conv1``, ``se_module.fc1``; classifier '
                 '``last_linear``')

    def detect(self, state_dict: Dict[str, Tensor]) -> bool:
        return any(
            key.startswith('layer0.') or '.se_module.' in key
            for key in state_dict)

    def convert(self, state_dict: Dict[str, Tensor]) -> Converted:
        # ``layer0.*`` is one 7x7 conv (our ``conv1``, ``bn1``), or
        # SENet-154's deep stem (MMDetection's ``deep_stem``).
        if 'layer0.conv2.weight' in state_dict:
            stem = dict(zip(LEGACY_DEEP_STEM, DEEP_STEM))
        else:
            stem = {'layer0.conv1': 'conv1', 'layer0.bn1': 'bn1'}
        return rename(
            renamed_stem(state_dict, stem), RULES, dropped=r'last_linear\.')

    def conventions(self, arch: Dict,
                    anti_alias: Optional[bool]) -> Conventions:
        # timm's basic blocks (legacy_seresnet18/34) apply a ReLU before SE.
        basic = arch.get('depth') in (18, 34)
        backbone = dict(
            arch,
            relu_before_se=basic,
            style='caffe' if arch['type'] == 'SEResNet' else 'pytorch',
            stem_pool='caffe')
        return Conventions(self.name, backbone, dict(IMAGENET_RGB))
