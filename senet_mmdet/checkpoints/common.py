"""What every checkpoint format shares: the error, the conventions a
conversion returns, the input normalisations, our key vocabulary, the
renaming helpers, and the table of formats that the converters dispatch
from. Each format lives in one file of ``formats/`` and registers itself
here with :func:`register_format`; this module imports none of them."""
import os
import re
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple, Type

import torch
from torch import Tensor


class ConversionError(ValueError):
    """A checkpoint that cannot be converted exactly; says why."""


class WeightsNotFetchedError(FileNotFoundError):
    """Pretrained weights named by a URL or ``timm://`` that are neither
    cached here nor downloadable (a machine without internet); the message
    says where to get them and how to pass the file."""


# Where to pass a downloaded file instead, on our tools' command line.
CHECKPOINT_OPTIONS = (
    '--cfg-options model.backbone.init_cfg.checkpoint=PATH (a C4 config\'s '
    'RoI head loads the same weights: add '
    'model.roi_head.shared_head.init_cfg.checkpoint=PATH)')


def not_fetched_message(weight: str, url: str, error: Exception) -> str:
    """What :class:`WeightsNotFetchedError` says: which weights, why, where
    to download them, and the two ways to use the download offline."""
    hub = os.path.join(torch.hub.get_dir(), 'checkpoints')
    return (f'{weight}: the pretrained weights could not be fetched '
            f'({error}). On a machine with internet download {url}, then '
            f'either copy the file into {hub} (torch\'s hub folder, where '
            'it is found without a network) or pass its path with '
            f'{CHECKPOINT_OPTIONS}.')


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


# Input normalisation on 0-255 pixels, as MMDetection's data preprocessor
# takes it. The PyTorch ports were trained on RGB scaled to [0, 1] with the
# ImageNet mean and std; the Caffe models on BGR minus 104/117/123.
IMAGENET_RGB = dict(
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True)
CAFFE_BGR = dict(mean=[104.0, 117.0, 123.0], std=[1.0, 1.0, 1.0],
                 bgr_to_rgb=False)

# Our keys (MMDetection's ResNet naming), as regular expressions.
PARAM = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
BLOCK = r'(layer[1-4]\.\d+)'
# A shortcut is a conv and norm (downsample.0/1) or, with avg_down, an
# average pool, conv and norm (downsample.1/2).
BLOCK_PARTS = r'(conv[123]|bn[123]|downsample\.[012])'

# Keys that are already ours, once a port's own names are mapped.
OURS = [
    (rf'(conv1|bn1)\.{PARAM}', r'\1.\2'),
    (rf'(stem\.[013467])\.{PARAM}', r'\1.\2'),
    (rf'{BLOCK}\.{BLOCK_PARTS}\.{PARAM}', r'\1.\2.\3'),
    (rf'{BLOCK}\.se\.(fc[12])\.(weight|bias)', r'\1.se.\2.\3'),
]

# A deep stem in MMDetection's naming (``deep_stem=True``): three 3x3 convs
# and their norms, ReLUs at 2, 5 and 8.
DEEP_STEM = ('stem.0', 'stem.1', 'stem.3', 'stem.4', 'stem.6', 'stem.7')

Rules = List[Tuple[str, str]]
Converted = Tuple[Dict[str, Tensor], List[str]]


def rename(state_dict: Dict[str, Tensor], rules: Rules,
           dropped: str) -> Converted:
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


def renamed_stem(state_dict: Dict[str, Tensor],
                 stem: Dict[str, str]) -> Dict[str, Tensor]:
    """The keys under each ``stem`` name renamed to its value."""
    renamed: Dict[str, Tensor] = OrderedDict()
    for key, value in state_dict.items():
        module, _, param = key.rpartition('.')
        renamed[f'{stem.get(module, module)}.{param}'] = value
    return renamed


class CheckpointFormat(ABC):
    """One port's weights: how they are read, recognised, renamed to our
    keys, and which conventions they were trained with.

    A subclass in ``formats/`` sets the class attributes and overrides the
    methods; :func:`register_format` puts one instance in the table.
    """

    # The name used by ``--format`` and in ``Conventions.source``.
    name: str
    # File suffixes this format reads itself (``.caffemodel``); files of
    # the other formats are torch pickles that mmengine reads.
    suffixes: Tuple[str, ...] = ()
    # Whether the port has anti-aliased models, whose pools hold no tensors
    # (only timm's): ``anti_alias`` is then the caller's to say.
    has_anti_aliased_models = False
    # One line for the format table of the converter's help: the port's
    # stem and SE key names, and its classifier's.
    key_names: str = ''

    def read(self, path: str) -> dict:
        """The file's tensors, for a format with ``suffixes``."""
        raise TypeError(f'{self.name} weights are torch files, which '
                        'mmengine reads')

    @abstractmethod
    def detect(self, state_dict: Dict[str, Tensor]) -> bool:
        """Whether these keys are this port's SE keys."""

    @abstractmethod
    def convert(self, state_dict: Dict[str, Tensor]) -> Converted:
        """Our keys for the port's tensors, and the keys with no place (the
        classifier is dropped, not listed)."""

    @abstractmethod
    def conventions(self, arch: Dict,
                    anti_alias: Optional[bool]) -> Conventions:
        """The backbone arguments and normalisation the weights need, from
        the architecture read off the converted tensors."""


# name -> format, in registration order.
FORMAT_TABLE: Dict[str, CheckpointFormat] = OrderedDict()


def register_format(cls: Type[CheckpointFormat]) -> Type[CheckpointFormat]:
    """Class decorator: put one instance of ``cls`` in :data:`FORMAT_TABLE`
    under its ``name``."""
    if cls.name in FORMAT_TABLE:
        raise ValueError(f'checkpoint format {cls.name!r} is registered '
                         f'twice ({type(FORMAT_TABLE[cls.name]).__name__}, '
                         f'{cls.__name__})')
    FORMAT_TABLE[cls.name] = cls()
    return cls
