"""Split a COCO dataset into train and val by source image, then cut the
training images (and, with ``--tile-val``, the validation images) into
tiles; an image no larger than a tile stays whole, so this also splits a
dataset of small images (senet_mmdet/datasets/tiling.py; docs/own_dataset.md,
"Train/val split; large images: tiles").

    python tools/dataset_converters/tile_coco.py ANN.json IMAGE_DIR OUT_DIR \
        --val IMAGE [IMAGE ...] [--size 256] [--overlap 0.5] \
        [--min-visible 0.5] [--min-side 8] [--keep-empty] [--tile-val]

Writes ``OUT_DIR/train/`` and ``OUT_DIR/val/`` (images) and
``OUT_DIR/annotations/instances_{train,val}.json``. The ``--val`` images
(file names as in ANN.json) are held out whole: no validation pixel is in
a training tile. Without ``--tile-val`` they are copied uncut, for
evaluation on whole images.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys

from senet_mmdet.datasets import (DatasetError, TileRule, split_by_source,
                                  tile_coco, write_json)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('ann_file', help='the COCO file of the whole images')
    parser.add_argument('image_dir', help='the folder of the whole images')
    parser.add_argument('out_dir', help='where to write the split')
    parser.add_argument(
        '--val', nargs='+', required=True, metavar='IMAGE',
        help='the source images held out for validation (file names as in '
        'the annotation file)')
    parser.add_argument('--size', type=int, default=256,
                        help='tile side in pixels (default 256)')
    parser.add_argument(
        '--overlap', type=float, default=0.5,
        help='overlap of neighbouring training tiles, a fraction of the '
        'side (default 0.5)')
    parser.add_argument(
        '--min-visible', type=float, default=TileRule.min_visible,
        help='keep a cut box when at least this fraction of its area is in '
        'the tile ... (default %(default)s)')
    parser.add_argument(
        '--min-side', type=float, default=TileRule.min_side,
        help='... and both its sides are at least this many pixels; other '
        'cut boxes become ignored regions (default %(default)s)')
    parser.add_argument(
        '--keep-empty', action='store_true',
        help='also write tiles without a box (background-only tiles)')
    parser.add_argument(
        '--tile-val', action='store_true',
        help='cut the validation images into tiles too (without overlap)')
    args = parser.parse_args()
    for path in (args.ann_file, args.image_dir):
        if not osp.exists(path):
            parser.error(f'{path} does not exist')
    if args.size < 32:
        parser.error(f'--size {args.size}: tiles need at least 32 px')
    return args


def main() -> None:
    args = parse_args()
    try:
        rule = TileRule(args.min_visible, args.min_side)
    except ValueError as error:
        sys.exit(f'error: {error}')
    with open(args.ann_file) as handle:
        coco = json.load(handle)
    try:
        train, val = split_by_source(coco, args.val)
        splits = {'train': tile_coco(train, args.image_dir,
                                     osp.join(args.out_dir, 'train'),
                                     args.size, args.overlap, rule,
                                     args.keep_empty)}
        if args.tile_val:
            splits['val'] = tile_coco(val, args.image_dir,
                                      osp.join(args.out_dir, 'val'),
                                      args.size, 0.0, rule, keep_empty=True)
    except DatasetError as error:
        sys.exit(f'error: {error}')
    if not args.tile_val:
        os.makedirs(osp.join(args.out_dir, 'val'), exist_ok=True)
        for image in val['images']:
            shutil.copy(osp.join(args.image_dir, image['file_name']),
                        osp.join(args.out_dir, 'val',
                                 osp.basename(image['file_name'])))
            image['file_name'] = osp.basename(image['file_name'])
        splits['val'] = (val, None)
    for split, (split_coco, counts) in splits.items():
        path = osp.join(args.out_dir, 'annotations', f'instances_{split}.json')
        write_json(split_coco, path)
        sources = sorted({image.get('source', image['file_name'])
                          for image in split_coco['images']})
        what = (f'{counts["tiles"]} tiles of {args.size} px from {sources}: '
                f'{counts["kept"]} boxes ({counts["clipped"]} clipped by a '
                f'tile edge), {counts["ignored"]} cut parts kept as ignored '
                f'regions, {counts["empty"]} tiles without a box '
                f'{"kept" if args.keep_empty or split == "val" else "left out"}'
                if counts else f'{len(sources)} whole images {sources}: '
                f'{len(split_coco["annotations"])} boxes')
        print(f'{split}: {what} -> {path}')


if __name__ == '__main__':
    main()
