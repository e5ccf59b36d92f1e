"""timm's own SE-ResNet / SE-ResNeXt / SENet weights (``seresnet50.a1_in1k``
and the like; not its ``legacy_*`` models, which are ``legacy.py``'s).

Keys are already MMDetection's ResNet names (``conv1``, ``layer1.0.se.fc1``)
but for the deep stems of the ``d``/``t`` models and SENet-154, which timm
keeps as a sequence under ``conv1``. Strides sit on the 3x3, or in the
anti-aliased (``aa``) models 2x2 average pools take their place, which hold
no tensors: the caller says which (``timm://`` reads it off the model timm
builds).
"""
from typing import Dict, Optional

from torch import Tensor

from ..common import (DEEP_STEM, IMAGENET_RGB, OURS, CheckpointFormat,
                      Conventions, Converted, register_format, rename,
                      renamed_stem)

# timm's deep stem: ``conv1`` a sequence of three convs, the last one's
# norm ``bn1``.
TIMM_DEEP_STEM = ('conv1.0', 'conv1.1', 'conv1.3', 'conv1.4', 'conv1.6',
                  'bn1')


@register_format
class TimmFormat(CheckpointFormat):
    name = 'timm'
    has_anti_aliased_models = True
    key_names = '``conv1``, ``se.fc1``; classifier ``fc``'

    def detect(self, state_dict: Dict[str, Tensor]) -> bool:
        return any('.se.fc1.' in key for key in state_dict)

    def convert(self, state_dict: Dict[str, Tensor]) -> Converted:
        if 'conv1.0.weight' in state_dict:
            state_dict = renamed_stem(state_dict,
                                      dict(zip(TIMM_DEEP_STEM, DEEP_STEM)))
        return rename(state_dict, OURS, dropped=r'fc\.')

    def conventions(self, arch: Dict,
                    anti_alias: Optional[bool]) -> Conventions:
        # Strides on the 3x3 and a padded stem pool, or in the ``aa`` models
        # 2x2 average pools in their place; no key tells which, and timm's
        # anti-aliased SE models are all ``d`` models: for those, None
        # leaves both unknown (and unchecked).
        style, norm = 'pytorch', IMAGENET_RGB
        if anti_alias is None and arch.get('deep_stem') and arch.get(
                'avg_down'):
            return Conventions(self.name, dict(arch, style=style), dict(norm))
        anti_alias = bool(anti_alias)
        backbone = dict(
            arch,
            anti_alias=anti_alias,
            style=style,
            stem_pool='avg' if anti_alias else 'pytorch')
        return Conventions(self.name, backbone, dict(norm))
