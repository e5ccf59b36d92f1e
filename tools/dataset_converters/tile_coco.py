"""Split a COCO dataset into train and val by source image, then cut the
training images (and, with ``--tile-val``, the validation images) into
tiles; an image no larger than a tile stays whole, so this also splits a
dataset of small images (senet_mmdet/datasets/tiling.py; docs/own_dataset.md,
"Train/val split; large images: tiles").

    python tools/dataset_converters/tile_coco.py ANN.json IMAGE_DIR OUT_DIR \
        (--val IMAGE [IMAGE ...] | --val-list FILE | --val-fraction F [--seed S]) \
        [--size 256] [--overlap 0.5] [--min-visible 0.5] [--min-side 8] \
        [--keep-empty] [--tile-val]

The validation images are held out whole: no validation pixel is in a
training tile. Name them (``--val``, file names as in ANN.json), list them
in a file (``--val-list``, one name per line, file name or its stem), or
draw a fraction of the source images (``--val-fraction``, reproducible with
``--seed``). With none of these, VOC's ``ImageSets/Main/val.txt`` beside
IMAGE_DIR (``VOC2007/JPEGImages`` -> ``VOC2007/ImageSets/Main/``) is the
validation list, and its ``train.txt``, where it exists, the training list.
The split is printed. Writes ``OUT_DIR/train/`` and ``OUT_DIR/val/``
(images) and ``OUT_DIR/annotations/instances_{train,val}.json``. Without
``--tile-val`` the validation images are copied uncut, for evaluation on
whole images.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys

from typing import List, Optional, Tuple

from senet_mmdet.datasets import (DatasetError, TileRule, draw_val_images,
                                  file_names_of, read_image_list,
                                  split_by_source, tile_coco, voc_image_sets,
                                  write_json)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('ann_file', help='the COCO file of the whole images')
    parser.add_argument('image_dir', help='the folder of the whole images')
    parser.add_argument('out_dir', help='where to write the split')
    held_out = parser.add_mutually_exclusive_group()
    held_out.add_argument(
        '--val', nargs='+', metavar='IMAGE',
        help='the source images held out for validation (file names as in '
        'the annotation file). Give this, --val-list or --val-fraction; with '
        'none, VOC\'s ImageSets/Main/val.txt (and train.txt) beside '
        'IMAGE_DIR split the images')
    held_out.add_argument(
        '--val-list', metavar='FILE',
        help='a text file naming the validation images, one per line (file '
        'name or its stem, as VOC\'s ImageSets/Main/val.txt)')
    held_out.add_argument(
        '--val-fraction', type=float, metavar='F',
        help='hold out this fraction of the source images, drawn with '
        '--seed (at least one image each way)')
    parser.add_argument(
        '--seed', type=int, metavar='S',
        help='the seed of --val-fraction\'s draw (default 0): the same '
        'file, fraction and seed give the same split')
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
    if args.val_fraction is not None and not 0 < args.val_fraction < 1:
        parser.error(f'--val-fraction {args.val_fraction}: give a fraction '
                     'between 0 and 1, such as 0.2')
    if args.seed is not None and args.val_fraction is None:
        parser.error('--seed draws the --val-fraction split; give '
                     '--val-fraction too, or leave --seed out')
    if not (args.val or args.val_list or args.val_fraction
            or 'val' in voc_image_sets(args.image_dir)):
        parser.error('name the validation images: --val IMAGE ..., '
                     '--val-list FILE or --val-fraction F (no VOC '
                     'ImageSets/Main/val.txt lies beside '
                     f'{args.image_dir})')
    return args


def choose_split(args: argparse.Namespace, coco: dict
                 ) -> Tuple[List[str], Optional[List[str]], str]:
    """The validation file names, the training file names (None: every
    other image) and how they were chosen, for the printed split."""
    if args.val:
        return args.val, None, '--val'
    if args.val_list:
        names = read_image_list(args.val_list)
        return file_names_of(coco, names, args.val_list), None, \
            f'--val-list {args.val_list}'
    if args.val_fraction:
        seed = 0 if args.seed is None else args.seed
        return draw_val_images(coco, args.val_fraction, seed), None, \
            f'--val-fraction {args.val_fraction} --seed {seed}'
    lists = voc_image_sets(args.image_dir)
    val = file_names_of(coco, read_image_list(lists['val']), lists['val'])
    if 'train' not in lists:
        return val, None, lists['val']
    train = file_names_of(coco, read_image_list(lists['train']),
                          lists['train'])
    return val, train, f'{lists["val"]} and {lists["train"]}'


def main() -> None:
    args = parse_args()
    try:
        rule = TileRule(args.min_visible, args.min_side)
    except ValueError as error:
        sys.exit(f'error: {error}')
    with open(args.ann_file) as handle:
        coco = json.load(handle)
    try:
        val_files, train_files, chosen_by = choose_split(args, coco)
        train, val = split_by_source(coco, val_files, train_files)
        left_out = len(coco['images']) - len(train['images']) - len(
            val['images'])
        print(f'split ({chosen_by}): {len(val["images"])} of '
              f'{len(coco["images"])} source images for validation '
              f'{sorted(val_files)}'
              f'{f", {left_out} in neither list left out" if left_out else ""}')
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
