"""Load pretrained SE weights into a backbone: converted on the fly if they
are a port's own file, checked against the backbone's conventions, and with
every key accounted for.

MMDetection's ``Pretrained`` initialisation loads with ``strict=False``: a
renamed key (``se_module.fc1`` for ``se.fc1``) leaves that tensor random
without a word, and a port trained with another stride placement or stem
pooling loads "fine" and costs AP. Our backbones load their ``Pretrained``
``init_cfg`` through :func:`load_pretrained` instead.
"""
import os.path as osp
from typing import Dict, Iterable, Optional, Sequence, Tuple

from mmengine.model.weight_init import update_init_info
from mmengine.runner import CheckpointLoader
from torch import Tensor, nn

from mmdet.models.backbones.resnet import ResNet
from mmdet.registry import WEIGHT_INITIALIZERS
from senet_mmdet.pretrained_target import PretrainedTarget
from senet_mmdet.utils import listing

from .common import (FORMAT_TABLE, Conventions, WeightsNotFetchedError,
                     not_fetched_message)
from .converters import convert_state_dict, se_format

# How many keys of each kind an error names before "and N more".
LISTED = 10


class PretrainedMismatchError(ValueError):
    """Pretrained weights that would not compute what their source does in
    this backbone; the message names the argument or keys to fix."""


def read_checkpoint(checkpoint: str) -> dict:
    """A checkpoint file, ``.caffemodel``, ``.pdparams``, URL or
    ``timm://`` name, as a dict: read by the format that owns its suffix,
    a ``.safetensors`` file (what the Hugging Face hub serves) by
    safetensors, anything else by mmengine (torch files, URLs,
    ``timm://``). A URL that cannot be fetched raises
    :class:`WeightsNotFetchedError`."""
    for port in FORMAT_TABLE.values():
        if checkpoint.endswith(port.suffixes):
            return port.read(checkpoint)
    if checkpoint.endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(checkpoint)
    try:
        return CheckpointLoader.load_checkpoint(
            checkpoint, map_location='cpu')
    except OSError as error:  # urllib's URLError and HTTPError among them
        if not checkpoint.startswith(('http://', 'https://')):
            raise
        raise WeightsNotFetchedError(
            not_fetched_message(checkpoint, checkpoint, error)) from None


def load_converted(checkpoint: str,
                   source: Optional[str] = None,
                   anti_alias: Optional[bool] = None
                   ) -> Tuple[Dict[str, Tensor], Conventions]:
    """The backbone tensors and conventions of ``checkpoint``: a file
    written by ``tools/model_converters/senet2mmdet.py`` (or a ``timm://``
    name), or a port's own file, converted here from ``source`` (one of
    :data:`FORMATS`; detected from the keys if None; ``anti_alias`` as in
    :func:`convert_state_dict`)."""
    return converted(read_checkpoint(checkpoint), source, anti_alias)


def converted(loaded: dict,
              source: Optional[str] = None,
              anti_alias: Optional[bool] = None
              ) -> Tuple[Dict[str, Tensor], Conventions]:
    """:func:`load_converted` for a checkpoint already read."""
    meta = loaded.get('meta') if isinstance(loaded, dict) else None
    if isinstance(meta, dict) and 'senet_mmdet' in meta:
        return loaded['state_dict'], Conventions(**meta['senet_mmdet'])
    state_dict = loaded.get('state_dict', loaded)
    return convert_state_dict(state_dict, source, anti_alias)


def pretrained_target(module: nn.Module, why: str) -> PretrainedTarget:
    """``module`` as a :class:`PretrainedTarget`, or a ``TypeError`` that
    says ``why`` the weights need one and which modules are."""
    if not isinstance(module, PretrainedTarget):
        raise TypeError(
            f'SEPretrained: {type(module).__name__} is not an SE backbone '
            f'of senet_mmdet ({why}); only SEResNet, SEResNeXt, SENet154 '
            "and the C4 head SEResLayer take these weights. Load a "
            "detector checkpoint's part with prefix=..., or other weights "
            "with MMDetection's init_cfg=dict(type='Pretrained', ...)")
    return module


def _comparable(value):
    """Lists as tuples: a config's ``stem_widths=[24, 32]`` is (24, 32)."""
    return tuple(value) if isinstance(value, list) else value


def check_conventions(backbone: nn.Module, conventions: Conventions,
                      checkpoint: str) -> None:
    """Raise :class:`PretrainedMismatchError` naming each backbone argument
    that differs from what the weights were trained with."""
    target = pretrained_target(
        backbone, 'converted weights are checked against the arguments it '
        'was built with')
    have = target.weight_conventions()
    need = conventions.backbone
    wrong = {
        name: value
        for name, value in need.items()
        if name in have and _comparable(have[name]) != _comparable(value)
    }
    if not wrong:
        return
    fixes = ', '.join(f'model.backbone.{name}={value!r}'
                      for name, value in wrong.items())
    current = ', '.join(f'{name}={have[name]!r}' for name in wrong)
    norm = conventions.data_preprocessor
    raise PretrainedMismatchError(
        f'{checkpoint} holds {conventions.source} weights for {need}, but '
        f'the backbone has {current}; set {fixes}' +
        (f", and the data preprocessor's mean={norm['mean']}, "
         f"std={norm['std']}, bgr_to_rgb={norm['bgr_to_rgb']}"
         if norm else ''))


def account_for_keys(backbone: nn.Module,
                     state_dict: Dict[str, Tensor],
                     checkpoint: str,
                     unfilled_ok: Iterable[str] = ()) -> None:
    """Raise :class:`PretrainedMismatchError` listing the backbone tensors
    the weights leave unfilled (but those in ``unfilled_ok``), the weights
    with no place in the backbone, and shape mismatches. BatchNorm's
    ``num_batches_tracked`` counters are not weights: older ports lack
    them, and the backbone keeps its own."""
    expected = {
        key: value.shape
        for key, value in backbone.state_dict().items()
        if not key.endswith('num_batches_tracked')
    }
    given = {
        key: value.shape
        for key, value in state_dict.items()
        if not key.endswith('num_batches_tracked')
    }
    problems = []
    missing = sorted(expected.keys() - given.keys() - set(unfilled_ok))
    unexpected = sorted(given.keys() - expected.keys())
    shapes = [
        f'{key} {tuple(given[key])} vs {tuple(expected[key])}'
        for key in sorted(expected.keys() & given.keys())
        if expected[key] != given[key]
    ]
    for what, keys in (('left unfilled', missing),
                       ('with no place in the backbone', unexpected),
                       ('of the wrong shape (checkpoint vs backbone)',
                        shapes)):
        if keys:
            quoted = [repr(key) for key in keys]
            problems.append(f'{len(keys)} key(s) {what}: '
                            f'[{listing(quoted, LISTED)}]')
    if problems:
        raise PretrainedMismatchError(
            f'{checkpoint} does not fit {type(backbone).__name__}: ' +
            '; '.join(problems) + '. Check depth, groups, base_width and '
            'stage_with_se against the weights, or convert them with '
            'tools/model_converters/senet2mmdet.py')


# Configs that load ImageNet weights with SE modules
# (docs/configs_and_weights.md, "Model zoo"), named by the error that
# refuses plain ResNet weights.
SE_WEIGHT_CONFIGS = ('configs/faster_rcnn_se_r50.py',
                     'configs/senet/faster-rcnn_se-r50-timm_fpn_1x_coco.py')
# The classifier of torchvision's (and mmpretrain-free) plain ResNets.
PLAIN_CLASSIFIER = ('fc.weight', 'fc.bias')


def is_plain_resnet(state_dict: Dict[str, Tensor]) -> bool:
    """Whether ``state_dict`` is a ResNet without SE modules in
    torchvision's / MMDetection's naming (``conv1``, ``layer1.0.conv1``),
    as ``torchvision://resnet50`` and MMDetection's R-50 configs load."""
    return ('layer1.0.conv1.weight' in state_dict
            and se_format(state_dict) is None)


def load_plain(backbone: nn.Module, state_dict: Dict[str, Tensor],
               checkpoint: str, allow_plain: bool) -> None:
    """Put plain ResNet weights into an SE backbone, only on request.

    With ``allow_plain`` every plain tensor is loaded exactly (only the SE
    modules may be left unfilled, and nothing may be left over) and each SE
    module starts near identity, so that the network computes what the
    plain ResNet computes until training changes the gates.
    """
    if not allow_plain:
        raise PretrainedMismatchError(
            f'{checkpoint} holds plain ResNet weights (no SE tensors): in '
            f'{type(backbone).__name__} its SE modules would stay untrained '
            "random layers, and the paper's detection gains come from SE "
            'weights pretrained on ImageNet. Load SE weights instead, as '
            f'{" and ".join(SE_WEIGHT_CONFIGS)} do '
            '(docs/configs_and_weights.md, "Model zoo"); '
            'or, to start SE from plain weights on purpose, set '
            "init_cfg=dict(type='Pretrained', checkpoint=..., "
            'allow_plain=True): the plain tensors load exactly and every '
            'SE gate starts near 1, so training begins from the plain '
            "ResNet's outputs")
    state_dict = {
        key: value
        for key, value in state_dict.items() if key not in PLAIN_CLASSIFIER
    }
    se_keys = {key for key in backbone.state_dict() if '.se.' in key}
    account_for_keys(backbone, state_dict, checkpoint, unfilled_ok=se_keys)
    target = pretrained_target(
        backbone, 'plain ResNet weights need its SE modules started near '
        'identity')
    backbone.load_state_dict(state_dict, strict=False)
    target.start_se_near_identity()


def _stage_keys(module: nn.Module, state_dict: Dict[str, Tensor],
                modules: Optional[Sequence[str]]) -> Dict[str, Tensor]:
    """The converted keys ``module`` takes: those under ``modules`` (the
    C4 head takes its stage), or all but the stages it does not build (a
    C4 backbone, ``num_stages=3``, leaves ``layer4`` to the head)."""
    if modules is None:
        built = module.num_stages if isinstance(module, ResNet) else 4
        unbuilt = tuple(f'layer{stage}.' for stage in range(built + 1, 5))
        return {
            key: value
            for key, value in state_dict.items()
            if not key.startswith(unbuilt)
        }
    wanted = tuple(f'{name}.' for name in modules)
    taken = {
        key: value
        for key, value in state_dict.items() if key.startswith(wanted)
    }
    if not taken:
        raise PretrainedMismatchError(
            f'the weights have no key under {list(modules)}, the part of '
            f'them that {type(module).__name__} takes')
    return taken


def load_pretrained(backbone: nn.Module,
                    checkpoint: str,
                    prefix: Optional[str] = None,
                    allow_plain: bool = False,
                    modules: Optional[Sequence[str]] = None
                    ) -> Optional[Conventions]:
    """Fill ``backbone`` from ``checkpoint`` exactly, or raise.

    Args:
        backbone: An SE backbone of this package, or the SE conv5 head of a
            C4 detector (with ``modules``).
        checkpoint: A converted file, a port's own file, a ``.caffemodel``,
            a URL or ``timm://<name>``.
        prefix: Take only the keys under this prefix (e.g. ``'backbone.'``
            of a detector checkpoint trained with this package); they are
            used as they are, with no conventions to check.
        allow_plain: Accept plain ResNet weights (``torchvision://resnet50``
            and the like): load them exactly and start every SE gate near
            1 (:func:`load_plain`). Without it they are refused with an
            error that explains why.
        modules: Take only the converted keys under these top-level
            modules (``('layer4',)`` for the C4 head). None takes every
            key but those of stages the backbone does not build.
    """
    if prefix:
        loaded = read_checkpoint(checkpoint)
        state_dict = loaded.get('state_dict', loaded)
        state_dict = {
            key[len(prefix):]: value
            for key, value in state_dict.items() if key.startswith(prefix)
        }
        if not state_dict:
            raise PretrainedMismatchError(
                f'{checkpoint} has no key starting with {prefix!r}')
        conventions = None
    else:
        # Only a local path can be checked here; URLs and timm:// names are
        # fetched by read_checkpoint, which names the fix when they fail.
        if '://' not in checkpoint and not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'pretrained checkpoint {checkpoint} does not exist; convert '
                'a port with tools/model_converters/senet2mmdet.py, or use '
                "checkpoint='timm://seresnet50.a1_in1k' and the like")
        loaded = read_checkpoint(checkpoint)
        state_dict = loaded.get('state_dict', loaded)
        if is_plain_resnet(state_dict):
            load_plain(backbone, state_dict, checkpoint, allow_plain)
            return None
        state_dict, conventions = converted(loaded)
        check_conventions(backbone, conventions, checkpoint)
    state_dict = _stage_keys(backbone, state_dict, modules)
    account_for_keys(backbone, state_dict, checkpoint)
    backbone.load_state_dict(state_dict, strict=False)
    return conventions


@WEIGHT_INITIALIZERS.register_module(name='SEPretrained')
class SEPretrainedInit:
    """The ``Pretrained`` initialisation of this package's SE backbones and
    head: :func:`load_pretrained` as an mmengine weight initializer.

    The backbones build it from their ``init_cfg=dict(type='Pretrained',
    ...)`` (looked up in the registry, so that the models do not import
    this package); ``type='SEPretrained'`` in a config does the same.

    Args:
        checkpoint, prefix, allow_plain, modules: As in
            :func:`load_pretrained`.
    """

    def __init__(self,
                 checkpoint: str,
                 prefix: Optional[str] = None,
                 allow_plain: bool = False,
                 modules: Optional[Sequence[str]] = None) -> None:
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.allow_plain = allow_plain
        self.modules = modules

    def __call__(self, module: nn.Module) -> None:
        conventions = load_pretrained(module, self.checkpoint, self.prefix,
                                      self.allow_plain, self.modules)
        if hasattr(module, '_params_init_info'):
            # The detector's init log lists where each weight came from.
            plain = conventions is None and not self.prefix
            update_init_info(
                module,
                init_info=f'loaded from {self.checkpoint} by senet_mmdet' +
                (' (plain ResNet weights; SE gates started near 1)'
                 if plain else ''))
