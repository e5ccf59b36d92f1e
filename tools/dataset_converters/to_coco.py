"""Convert Pascal VOC XML, box-per-row CSV (DeepForest's) or YOLO txt
annotations to one COCO instances file, which MMDetection's CocoDataset
reads (docs/own_dataset.md).

    python tools/dataset_converters/to_coco.py voc XML_DIR --out ANN.json
    python tools/dataset_converters/to_coco.py csv BOXES.csv --out ANN.json
    python tools/dataset_converters/to_coco.py yolo LABEL_DIR --image-dir \
        IMAGE_DIR --classes cat dog --out ANN.json

Options: ``--image-dir`` (where the images are: file names in the COCO file
are relative to it; default the annotation's folder), ``--classes`` (the
category order: ids 1..N; default the labels in order of appearance; YOLO
needs it, in the order of its names list), ``--map NAME=CLASS`` (rename or
merge labels, e.g. ``--map Alive=Tree --map Dead=Tree``).
"""
import argparse
import os.path as osp
import sys
import warnings

from senet_mmdet.datasets import (DatasetError, read_csv, read_voc_folder,
                                  read_yolo, relabel, to_coco, write_json)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('format', choices=('voc', 'csv', 'yolo'),
                        help='the annotation format')
    parser.add_argument(
        'annotations', help='voc: the folder of .xml files; csv: the .csv '
        'file; yolo: the folder of .txt label files')
    parser.add_argument('--out', required=True,
                        help='the COCO .json file to write')
    parser.add_argument(
        '--image-dir', help='the folder of the images (default: the '
        'annotations\' folder; required for yolo)')
    parser.add_argument(
        '--classes', nargs='+', help='class names in category-id order '
        '(default: labels in order of appearance; required for yolo)')
    parser.add_argument(
        '--map', nargs='+', default=[], metavar='NAME=CLASS',
        help='rename labels before conversion, e.g. Alive=Tree Dead=Tree')
    args = parser.parse_args()
    if not osp.exists(args.annotations):
        parser.error(f'annotations {args.annotations} do not exist')
    if args.format == 'yolo' and not (args.image_dir and args.classes):
        parser.error('yolo labels need --image-dir and --classes (YOLO '
                     'files hold class indices, not names)')
    bad = [item for item in args.map if item.count('=') != 1]
    if bad:
        parser.error(f'--map {bad}: write each as NAME=CLASS')
    return args


def main() -> None:
    args = parse_args()
    # Every warning names its file and entry: show each one.
    warnings.simplefilter('always')
    try:
        if args.format == 'voc':
            images = read_voc_folder(args.annotations, args.image_dir)
        elif args.format == 'csv':
            images = read_csv(args.annotations, args.image_dir)
        else:
            images = read_yolo(args.annotations, args.image_dir,
                               args.classes)
        relabel(images, dict(item.split('=') for item in args.map))
        coco = to_coco(images, args.classes)
    except DatasetError as error:
        sys.exit(f'error: {error}')
    write_json(coco, args.out)
    per_class = {
        cat['name']: sum(ann['category_id'] == cat['id']
                         for ann in coco['annotations'])
        for cat in coco['categories']
    }
    print(f'{args.out}: {len(coco["images"])} images, '
          f'{len(coco["annotations"])} boxes {per_class}')


if __name__ == '__main__':
    main()
