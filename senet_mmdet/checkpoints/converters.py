"""Convert SE-ResNet / SE-ResNeXt / SENet-154 weights from every public port
to the keys of this package's backbones (MMDetection's ResNet naming).

The ports name the same tensors differently (SENET_FACTS.md, section 6):

=============  ==========================  ===============================
format         stem / SE keys              classifier (dropped)
=============  ==========================  ===============================
``timm``       ``conv1``, ``se.fc1``       ``fc``
``legacy``     ``layer0.conv1``,           ``last_linear``
               ``se_module.fc1``
``mmpretrain`` ``backbone.conv1``,         ``head.fc``
               ``se_layer.conv1.conv``
``caffe``      ``conv1/7x7_s2``,           ``classifier``
               ``conv2_1_1x1_down``
``paddleclas`` ``conv1_1._conv``,          ``out``
               ``bb_0_0.scale.squeeze``
=============  ==========================  ===============================

``legacy`` covers the original PyTorch ports of the Caffe models (Cadene's
``pretrainedmodels``) and timm's ``legacy_*`` models, which share their
code. They also differ in conventions that no key reveals: where the
stride sits, the stem's max-pool and the input normalisation. Each
conversion returns those with the weights (:class:`Conventions`), and every
source key is either converted or named as the classifier; anything else
is an error listing the keys, never a silently ignored tensor.
"""
import re
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

from torch import Tensor

FORMATS = ('timm', 'legacy', 'mmpretrain', 'caffe', 'paddleclas')

# Input normalisation on 0-255 pixels, as MMDetection's data preprocessor
# takes it. The PyTorch ports were trained on RGB scaled to [0, 1] with the
# ImageNet mean and std; the Caffe models on BGR minus 104/117/123.
IMAGENET_RGB = dict(
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True)
CAFFE_BGR = dict(mean=[104.0, 117.0, 123.0], std=[1.0, 1.0, 1.0],
                 bgr_to_rgb=False)

class ConversionError(ValueError):
    """A checkpoint that cannot be converted exactly; says why."""


@dataclass
class Conventions:
    """What a converted checkpoint needs from the model to compute what its
    source computes: the backbone arguments and the data preprocessor's
    normalisation. Stored in the converted checkpoint's ``meta``."""
    source: str
    backbone: Dict = field(default_factory=dict)
    data_preprocessor: Dict = field(default_factory=dict)

    def to_meta(self) -> dict:
        return asdict(self)


def se_format(state_dict: Dict[str, Tensor]) -> Optional[str]:
    """The SE port a state dict comes from, from its key names; None when
    it has none of the ports' SE keys (plain weights, or unknown ones)."""
    keys = list(state_dict)
    if any(k.startswith('layer0.') or '.se_module.' in k for k in keys):
        return 'legacy'
    if any('.se_layer.conv1.conv.' in k for k in keys):
        return 'mmpretrain'
    if any('.scale.squeeze.' in k for k in keys):
        return 'paddleclas'
    if any('.se.fc1.' in k for k in keys):
        return 'timm'
    if any(re.match(r'conv\d+_\d+_1x1_down', k) for k in keys):
        return 'caffe'
    return None


def detect_format(state_dict: Dict[str, Tensor]) -> str:
    """The port a state dict comes from, from its key names."""
    source = se_format(state_dict)
    if source is not None:
        return source
    keys = list(state_dict)
    raise ConversionError(
        'cannot tell which SE-ResNet port these weights come from (keys '
        f'start {keys[:4]}); no SE keys such as "se.fc1", "se_module.fc1", '
        '"se_layer.conv1.conv", "scale.squeeze" or "conv2_1_1x1_down" were '
        f'found. Name the format with --format, one of {FORMATS}')


def _rename(state_dict: Dict[str, Tensor],
            rules: List[Tuple[str, str]],
            dropped: str) -> Tuple[Dict[str, Tensor], List[str]]:
    """Apply the first matching ``(pattern, replacement)`` to each key.

    Returns the renamed tensors and the keys no rule matched; keys matching
    ``dropped`` (the classifier) are left out on purpose.
    """
    converted: Dict[str, Tensor] = OrderedDict()
    unmatched = []
    for key, value in state_dict.items():
        if re.match(dropped, key):
            continue
        for pattern, replacement in rules:
            if re.fullmatch(pattern, key):
                converted[re.sub(pattern, replacement, key)] = value
                break
        else:
            unmatched.append(key)
    return converted, unmatched


PARAM = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
BLOCK = r'(layer[1-4]\.\d+)'
# A shortcut is a conv and norm (downsample.0/1) or, with avg_down, an
# average pool, conv and norm (downsample.1/2).
BLOCK_PARTS = r'(conv[123]|bn[123]|downsample\.[012])'

# Keys that are already ours, once the port's own names are mapped.
OURS = [
    (rf'(conv1|bn1)\.{PARAM}', r'\1.\2'),
    (rf'(stem\.[013467])\.{PARAM}', r'\1.\2'),
    (rf'{BLOCK}\.{BLOCK_PARTS}\.{PARAM}', r'\1.\2.\3'),
    (rf'{BLOCK}\.se\.(fc[12])\.(weight|bias)', r'\1.se.\2.\3'),
]

RULES: Dict[str, List[Tuple[str, str]]] = {
    'timm': OURS,
    'legacy': [
        (rf'{BLOCK}\.se_module\.(fc[12])\.(weight|bias)', r'\1.se.\2.\3'),
        *OURS,
    ],
    'mmpretrain': [
        (rf'backbone\.{BLOCK}\.se_layer\.conv1\.conv\.(weight|bias)',
         r'\1.se.fc1.\2'),
        (rf'backbone\.{BLOCK}\.se_layer\.conv2\.conv\.(weight|bias)',
         r'\1.se.fc2.\2'),
        *[(f'backbone\\.{p}', r) for p, r in OURS],
    ],
}
CLASSIFIERS = {
    'timm': r'fc\.',
    'legacy': r'last_linear\.',
    'mmpretrain': r'(head|data_preprocessor)\.',
}


# A deep stem in MMDetection's naming (``deep_stem=True``): three 3x3 convs
# and their norms, ReLUs at 2, 5 and 8.
DEEP_STEM = ('stem.0', 'stem.1', 'stem.3', 'stem.4', 'stem.6', 'stem.7')


def _renamed_stem(state_dict: Dict[str, Tensor],
                  stem: Dict[str, str]) -> Dict[str, Tensor]:
    """The keys under each ``stem`` name renamed to its value."""
    renamed: Dict[str, Tensor] = OrderedDict()
    for key, value in state_dict.items():
        module, _, param = key.rpartition('.')
        renamed[f'{stem.get(module, module)}.{param}'] = value
    return renamed


def _legacy_stem(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """``layer0.*`` to our stem: one 7x7 conv (``conv1``, ``bn1``), or
    SENet-154's three 3x3 convs (MMDetection's ``deep_stem``)."""
    if 'layer0.conv2.weight' not in state_dict:
        return _renamed_stem(state_dict, {
            'layer0.conv1': 'conv1',
            'layer0.bn1': 'bn1'
        })
    legacy = ('layer0.conv1', 'layer0.bn1', 'layer0.conv2', 'layer0.bn2',
              'layer0.conv3', 'layer0.bn3')
    return _renamed_stem(state_dict, dict(zip(legacy, DEEP_STEM)))


def _timm_stem(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """timm's deep stems (``d``, ``t`` models and SENet-154: ``conv1`` a
    sequence of three convs, the last one's norm ``bn1``) to MMDetection's
    ``deep_stem``; a 7x7 stem keeps its keys."""
    if 'conv1.0.weight' not in state_dict:
        return state_dict
    timm = ('conv1.0', 'conv1.1', 'conv1.3', 'conv1.4', 'conv1.6', 'bn1')
    return _renamed_stem(state_dict, dict(zip(timm, DEEP_STEM)))


def _depths() -> Dict[Tuple[Tuple[int, ...], bool], int]:
    """(blocks per stage, bottleneck) -> depth, from the backbones' own
    arch tables."""
    # Imported here: the backbones import this package to load weights.
    from senet_mmdet.models.backbones.seresnet import SEBottleneck, SEResNet
    return {(tuple(blocks), issubclass(block, SEBottleneck)): depth
            for depth, (block, blocks) in SEResNet.arch_settings.items()}


def _stem(state_dict: Dict[str, Tensor]) -> Dict:
    """Stem arguments: ``deep_stem=False`` for a 7x7 stem; for a deep stem
    its widths, ``stem_widths`` only where they are not MMDetection's
    halves."""
    if 'stem.0.weight' not in state_dict:
        return dict(deep_stem=False)
    widths = tuple(state_dict[f'stem.{i}.weight'].shape[0] for i in (0, 3))
    channels = state_dict['stem.6.weight'].shape[0]
    stem: Dict = dict(deep_stem=True, stem_channels=channels)
    if widths != (channels // 2, channels // 2):
        stem['stem_widths'] = widths
    return stem


def _architecture(state_dict: Dict[str, Tensor]) -> Dict:
    """Backbone arguments read off the converted tensors' shapes."""
    blocks = tuple(
        len({
            k.split('.')[1]
            for k in state_dict if k.startswith(f'layer{stage}.')
        }) for stage in range(1, 5))
    bottleneck = 'layer1.0.conv3.weight' in state_dict
    depths = _depths()
    if (blocks, bottleneck) not in depths:
        raise ConversionError(
            f'{blocks} blocks per stage of '
            f'{"bottleneck" if bottleneck else "basic"} blocks match no '
            f'SE-ResNet depth {sorted(set(depths.values()))}')
    depth = depths[(blocks, bottleneck)]
    conv1 = state_dict['layer1.0.conv1.weight']
    conv2 = state_dict['layer1.0.conv2.weight']
    # A grouped 3x3 sees in_channels / groups inputs per filter; its input
    # is the first 1x1's output (halved in SENet-154, so not conv2's width).
    groups = conv1.shape[0] // conv2.shape[1]
    width = conv2.shape[0]
    fc1 = state_dict['layer1.0.se.fc1.weight']
    se_ratio = fc1.shape[1] // fc1.shape[0]
    stem = _stem(state_dict)
    avg_down = any(
        re.fullmatch(r'layer\d\.0\.downsample\.2\.weight', k)
        for k in state_dict)
    if bottleneck and conv1.shape[0] * 2 == width:
        # Only SENet-154 halves the first 1x1 (timm: block_reduce_first=2).
        senet154 = dict(depth=152, groups=64, base_width=4, deep_stem=True,
                        stem_channels=128, avg_down=False)
        found = dict(stem, depth=depth, groups=groups,
                     base_width=width // groups, avg_down=avg_down)
        if found != senet154:
            raise ConversionError(
                'a first 1x1 conv of half the grouped width is SENet-154\'s '
                f'({senet154}); these weights have {found}')
        return dict(type='SENet154', se_ratio=se_ratio)
    arch: Dict = dict(type='SEResNet', depth=depth, se_ratio=se_ratio,
                      avg_down=avg_down, **stem)
    if not bottleneck and any(
            k.startswith('layer1.0.downsample.') for k in state_dict):
        # A conv shortcut where shapes agree: PaddleClas's SE_ResNet18/34_vd.
        arch['always_project'] = True
    if groups > 1:
        arch.update(type='SEResNeXt', groups=groups,
                    base_width=width // groups)
    return arch


def _check_se_ratio(state_dict: Dict[str, Tensor], se_ratio: int) -> None:
    """Every SE module must squeeze by the same ratio: the backbones take
    one ``se_ratio``."""
    for key, weight in state_dict.items():
        if key.endswith('.se.fc1.weight'):
            squeezed, channels = weight.shape[:2]
            if channels // se_ratio != squeezed:
                raise ConversionError(
                    f'{key}: {channels} -> {squeezed} channels is not '
                    f'se_ratio {se_ratio} as in the first block; weights with '
                    'uneven SE widths are not supported')


def _conventions(source: str, arch: Dict,
                 anti_alias: Optional[bool]) -> Conventions:
    """Stride placement, stem pooling, anti-aliasing and normalisation of
    each port. ``anti_alias`` None (a timm file) leaves both unknown for a
    ``d`` model (deep stem and ``avg_down``)."""
    resnet = arch['type'] == 'SEResNet'
    if source == 'timm':
        # Strides on the 3x3 and a padded stem pool, or in the ``aa``
        # models 2x2 average pools in their place; no key tells which, and
        # timm's anti-aliased SE models are all ``d`` models.
        style, norm = 'pytorch', IMAGENET_RGB
        if anti_alias is None and arch.get('deep_stem') and arch.get(
                'avg_down'):
            return Conventions(source, dict(arch, style=style), dict(norm))
        anti_alias = bool(anti_alias)
        stem_pool = 'avg' if anti_alias else 'pytorch'
        arch = dict(arch, anti_alias=anti_alias)
    elif source in ('mmpretrain', 'paddleclas'):
        # Strides on the 3x3 and a padded stem pool, as timm's.
        style, stem_pool, norm = 'pytorch', 'pytorch', IMAGENET_RGB
    elif source == 'legacy':
        # Ported from Caffe: SE-ResNets stride the first 1x1, SE-ResNeXts
        # and SENet-154 the grouped 3x3; the stem pool is Caffe's. timm's
        # basic blocks (legacy_seresnet18/34) apply a ReLU before SE.
        style = 'caffe' if resnet else 'pytorch'
        stem_pool, norm = 'caffe', IMAGENET_RGB
        basic = arch.get('depth') in (18, 34)
        arch = dict(arch, relu_before_se=basic)
    else:
        style = 'caffe' if resnet else 'pytorch'
        stem_pool, norm = 'caffe', CAFFE_BGR
    backbone = dict(arch, style=style, stem_pool=stem_pool)
    return Conventions(source, backbone, dict(norm))


def convert_state_dict(state_dict: Dict[str, Tensor],
                       source: Optional[str] = None,
                       anti_alias: Optional[bool] = None
                       ) -> Tuple[Dict[str, Tensor], Conventions]:
    """Convert a port's state dict to our backbone keys.

    Args:
        state_dict: The port's tensors (a ``caffe`` dict comes from
            :func:`senet_mmdet.checkpoints.caffe.read_caffemodel`).
        source: One of :data:`FORMATS`; detected from the keys if None.
        anti_alias: Whether timm weights come from an anti-aliased (``aa``)
            model, whose average pools have no tensors to tell; None
            leaves it, and the stem pool, unknown and unchecked for timm's
            ``d`` models (deep stem and ``avg_down``, like all its ``aa``
            SE models) and False for the others. Only timm has such
            models: other ports' weights are never anti-aliased.

    Returns:
        The converted tensors and the conventions they need.

    Raises:
        ConversionError: if a source key has no place in the backbone.
    """
    source = source or detect_format(state_dict)
    if source not in FORMATS:
        raise ConversionError(
            f'unknown format {source!r}; choose one of {FORMATS}')
    if anti_alias is not None and source != 'timm':
        raise ConversionError(
            f'anti_alias={anti_alias} is for timm weights; {source} has no '
            'anti-aliased models')
    if source != 'timm':
        anti_alias = False
    if source == 'caffe':
        from .caffe import caffe_to_backbone
        converted, unmatched = caffe_to_backbone(state_dict)
    elif source == 'paddleclas':
        from .paddle import paddleclas_to_backbone
        converted, unmatched = paddleclas_to_backbone(state_dict)
    else:
        if source == 'legacy':
            state_dict = _legacy_stem(state_dict)
        if source == 'timm':
            state_dict = _timm_stem(state_dict)
        converted, unmatched = _rename(state_dict, RULES[source],
                                       CLASSIFIERS[source])
    if unmatched:
        raise ConversionError(
            f'{len(unmatched)} {source} key(s) have no place in an SE '
            f'backbone: {unmatched[:10]}' +
            (' ...' if len(unmatched) > 10 else '') +
            '; are these SE-ResNet/SE-ResNeXt/SENet-154 weights?')
    if 'layer1.0.se.fc1.weight' not in converted:
        raise ConversionError(
            f'these {source} weights have no SE module in the first block '
            '(layer1.0); only SE-ResNet, SE-ResNeXt and SENet-154 weights '
            'are supported')
    arch = _architecture(converted)
    _check_se_ratio(converted, arch['se_ratio'])
    return converted, _conventions(source, arch, anti_alias)

