"""Convert SE-ResNet / SE-ResNeXt / SENet-154 weights from every public port
to the keys of this package's backbones (MMDetection's ResNet naming).

The ports name the same tensors differently (SENET_FACTS.md, section 6);
each port is one file of ``formats/`` (timm, legacy, mmpretrain, caffe,
paddleclas), which says how its keys are recognised and renamed and which
conventions its weights were trained with. ``legacy`` covers the original
PyTorch ports of the Caffe models (Cadene's ``pretrainedmodels``) and
timm's ``legacy_*`` models, which share their code.

The ports also differ in conventions that no key reveals: where the stride
sits, the stem's max-pool and the input normalisation. Each conversion
returns those with the weights (:class:`Conventions`), and every source key
is either converted or named as the classifier; anything else is an error
listing the keys, never a silently ignored tensor. What this module adds to
the formats is what they share: the architecture read off the converted
tensors' shapes.
"""
import re
from typing import Dict, Optional, Tuple

from torch import Tensor

from senet_mmdet.arch_settings import stage_blocks
from . import formats  # noqa: F401  (registers every format)
from .common import FORMAT_TABLE, ConversionError, Conventions

# The format names, for ``--format`` and error messages.
FORMATS = tuple(FORMAT_TABLE)


def se_format(state_dict: Dict[str, Tensor]) -> Optional[str]:
    """The SE port a state dict comes from, from its key names; None when
    it has none of the ports' SE keys (plain weights, or unknown ones)."""
    found = [name for name, port in FORMAT_TABLE.items()
             if port.detect(state_dict)]
    if len(found) > 1:
        raise ConversionError(
            f'these weights have the SE keys of several formats {found}; '
            'name the one they are in with --format')
    return found[0] if found else None


def detect_format(state_dict: Dict[str, Tensor]) -> str:
    """The port a state dict comes from, from its key names."""
    source = se_format(state_dict)
    if source is not None:
        return source
    keys = list(state_dict)
    known = '; '.join(f'{name}: {port.key_names}'
                      for name, port in FORMAT_TABLE.items())
    raise ConversionError(
        'cannot tell which SE-ResNet port these weights come from (keys '
        f'start {keys[:4]}); none of the ports\' SE keys were found '
        f'({known}). Name the format with --format, one of {FORMATS}')


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
    depths = {stages: depth for depth, stages in stage_blocks().items()}
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


def convert_state_dict(state_dict: Dict[str, Tensor],
                       source: Optional[str] = None,
                       anti_alias: Optional[bool] = None
                       ) -> Tuple[Dict[str, Tensor], Conventions]:
    """Convert a port's state dict to our backbone keys.

    Args:
        state_dict: The port's tensors, as its format's ``read`` or
            mmengine returns them (a ``caffe`` dict is one of layers).
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
    if source not in FORMAT_TABLE:
        raise ConversionError(
            f'unknown format {source!r}; choose one of {FORMATS}')
    port = FORMAT_TABLE[source]
    if anti_alias is not None and not port.has_anti_aliased_models:
        raise ConversionError(
            f'anti_alias={anti_alias} is for timm weights; {source} has no '
            'anti-aliased models')
    if not port.has_anti_aliased_models:
        anti_alias = False
    converted, unmatched = port.convert(state_dict)
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
    return converted, port.conventions(arch, anti_alias)
