"""Convert pretrained SE-ResNet / SE-ResNeXt / SENet-154 weights from a
public port to this package's backbones.

    python tools/model_converters/senet2mmdet.py SRC DST [--format FORMAT]

SRC is a port's checkpoint (timm, timm ``legacy_*`` / Cadene
``pretrainedmodels``, mmpretrain, PaddleClas ``.pdparams``), an official
``.caffemodel``, or ``timm://<name>``. The format is detected from the
keys unless given. DST holds the backbone's tensors and, in
``meta['senet_mmdet']``, the backbone arguments and input normalisation
they need; the printed config snippet sets both. Use DST as
``init_cfg=dict(type='Pretrained', checkpoint=DST)``.
"""
import argparse
import json
import sys

import torch

import senet_mmdet  # noqa: F401  (registers the timm:// scheme)
from senet_mmdet.checkpoints import FORMATS, ConversionError, load_converted
from senet_mmdet.engine import (UNSAFE_LOAD_FLAG, CheckpointError,
                                allow_unsafe_load)


def config_snippet(conventions, path: str) -> str:
    """The model part of a config that uses the converted weights."""
    backbone = dict(conventions.backbone,
                    init_cfg=dict(type='Pretrained', checkpoint=path))
    norm = dict(type='DetDataPreprocessor', **conventions.data_preprocessor)
    return (f'model = dict(\n    data_preprocessor={norm!r},\n'
            f'    backbone={backbone!r})')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='source checkpoint or timm://<name>')
    parser.add_argument('dst', help='converted checkpoint to write')
    parser.add_argument(
        '--format', choices=FORMATS, help='source format (default: detect)')
    parser.add_argument(
        '--anti-alias', action=argparse.BooleanOptionalAction,
        help="timm weights of an anti-aliased model (seresnextaa*): its "
        'average pools hold no tensors, so the keys cannot tell; default: '
        "unknown for timm's d models (deep stem and avg_down), off for "
        'the others. timm://<name> tells by itself')
    parser.add_argument(
        UNSAFE_LOAD_FLAG, action='store_true',
        help='unpickle SRC in full if weights-only loading refuses it '
        '(downloads can hide code in a pickle: only for files you trust)')
    args = parser.parse_args()
    # SRC is a third-party download: weights-only unless the user opts in.
    if args.unsafe_load:
        allow_unsafe_load()
    try:
        state_dict, conventions = load_converted(args.src, args.format,
                                                 args.anti_alias)
    except (ConversionError, CheckpointError, FileNotFoundError,
            ValueError) as error:
        print(f'error: {args.src}: {error}', file=sys.stderr)
        return 1
    meta = conventions.to_meta()
    torch.save(dict(state_dict=state_dict, meta=dict(senet_mmdet=meta)),
               args.dst)
    print(f'{args.src} ({meta["source"]}) -> {args.dst}: '
          f'{len(state_dict)} tensors')
    print('conventions: ' + json.dumps(meta))
    print(config_snippet(conventions, args.dst))
    if 'stem_pool' not in conventions.backbone:
        print('note: timm d-model weights (deep stem, avg_down): set '
              'anti_alias and stem_pool yourself, or convert again with '
              '--anti-alias if they come from an anti-aliased seresnextaa* '
              'model (--no-anti-alias otherwise)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
