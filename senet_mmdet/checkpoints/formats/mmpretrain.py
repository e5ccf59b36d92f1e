"""mmpretrain's (formerly mmclassification's) ``SEResNet`` / ``SEResNeXt``
checkpoints: our keys under ``backbone.``, SE modules as two ``ConvModule``s
(``se_layer.conv1.conv``, ``se_layer.conv2.conv``), the classifier under
``head.``. Strides on the 3x3, a padded stem pool, RGB with the ImageNet
mean and std, as timm's."""
from typing import Dict, Optional

from torch import Tensor

from ..common import (BLOCK, IMAGENET_RGB, OURS, CheckpointFormat,
                      Conventions, Converted, register_format, rename)

RULES = [
    (rf'backbone\.{BLOCK}\.se_layer\.conv1\.conv\.(weight|bias)',
     r'\1.se.fc1.\2'),
    (rf'backbone\.{BLOCK}\.se_layer\.conv2\.conv\.(weight|bias)',
     r'\1.se.fc2.\2'),
    *[(f'backbone\\.{pattern}', replacement)
      for pattern, replacement in OURS],
]


@register_format
class MMPretrainFormat(CheckpointFormat):
    name = 'mmpretrain'
    key_names = ('``backbone.conv1``, ``se_layer.conv1.conv``; classifier '
                 '``head.fc``')

    def detect(self, state_dict: Dict[str, Tensor]) -> bool:
        return any('.se_layer.conv1.conv.' in key for key in state_dict)

    def convert(self, state_dict: Dict[str, Tensor]) -> Converted:
        return rename(state_dict, RULES, dropped=r'(head|data_preprocessor)\.')

    def conventions(self, arch: Dict,
                    anti_alias: Optional[bool]) -> Conventions:
        backbone = dict(arch, style='pytorch', stem_pool='pytorch')
        return Conventions(self.name, backbone, dict(IMAGENET_RGB))
