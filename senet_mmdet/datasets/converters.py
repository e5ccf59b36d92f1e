"""Annotation formats users bring, read into one form and written as COCO.

Pascal VOC XML (one file per image), the CSV that DeepForest and many
labelling tools write (``image_path,xmin,ymin,xmax,ymax,label``, one box a
row) and YOLO txt (``class cx cy w h``, normalised, one file per image) all
become :class:`LabeledImage` records, which :func:`to_coco` writes as a COCO
instances file with category ids 1..N in the order of the classes (the order
MMDetection's ``CocoDataset`` then gives its labels, see
:func:`senet_mmdet.datasets.check.check_coco_annotations`).

Every problem names the file and the entry (object, row, line): required
fields that are missing or not numbers are errors; boxes partly outside
their image are clipped and boxes of no area after clipping are dropped,
each with a :class:`DatasetWarning` that counts and names them.
"""
import csv
import json
import os
import os.path as osp
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .check import DatasetError, DatasetWarning, listed

# Pascal VOC's optional object fields: missing means the default; ``difficult``
# objects are kept as COCO ``iscrowd`` (ignored in training and evaluation,
# as MMDetection's own VOC dataset ignores them).
VOC_OPTIONAL_FLAGS = ('difficult', 'truncated', 'occluded')
VOC_BOX_TAGS = ('xmin', 'ymin', 'xmax', 'ymax')
CSV_COLUMNS = ('image_path', 'xmin', 'ymin', 'xmax', 'ymax', 'label')
# Decimals of the pixel coordinates written to COCO files.
PIXEL_DECIMALS = 3
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


@dataclass
class Box:
    """One object: corners in pixels, ``ignore`` for VOC ``difficult``."""
    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    ignore: bool = False
    entry: str = ''  # where it came from, for messages


@dataclass
class LabeledImage:
    """One image and its boxes, as any format describes it."""
    file_name: str  # relative to the image folder
    width: int
    height: int
    boxes: List[Box] = field(default_factory=list)
    source: str = ''  # the annotation file it came from


def image_size(path: str) -> Tuple[int, int]:
    """``(width, height)`` of an image file, read from its header."""
    from PIL import Image
    if not osp.isfile(path):
        raise DatasetError(f'{path}: image file not found; point '
                           '--image-dir at the folder of the images')
    with Image.open(path) as image:
        return image.size


def _number(text: Optional[str], where: str, tag: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise DatasetError(
            f'{where}: {tag} is {text!r}, not a number; fix or remove the '
            'entry') from None


def read_voc(xml_path: str, image_dir: Optional[str] = None) -> LabeledImage:
    """Read one Pascal VOC XML file.

    ``filename`` and each object's ``name`` and ``bndbox`` are required;
    ``size`` is optional (read from the image in ``image_dir``, default the
    XML's folder, with a warning), as are ``difficult``/``truncated``/
    ``occluded`` (missing means 0; empty ones warn).
    """
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as error:
        raise DatasetError(f'{xml_path}: not valid XML ({error}); re-export '
                           'the annotation') from None
    file_name = (root.findtext('filename') or '').strip()
    if not file_name:
        raise DatasetError(
            f'{xml_path}: <filename> is missing or empty; add the image\'s '
            'file name (relative to the image folder)')
    image_dir = osp.dirname(xml_path) if image_dir is None else image_dir
    width = _size_tag(root, 'width')
    height = _size_tag(root, 'height')
    if not (width and height):
        width, height = image_size(osp.join(image_dir, file_name))
        warnings.warn(
            f'{xml_path}: <size> is missing, empty or 0; read '
            f'{width}x{height} from {osp.join(image_dir, file_name)} '
            '(add <size><width>..</width><height>..</height></size> to '
            'skip this)', DatasetWarning)
    image = LabeledImage(file_name, width, height, source=xml_path)
    empty = []
    for index, obj in enumerate(root.iter('object')):
        where = f'{xml_path}: object {index}'
        name = (obj.findtext('name') or '').strip()
        if not name:
            raise DatasetError(f'{where}: <name> is missing or empty; give '
                               'the object its class name')
        bndbox = obj.find('bndbox')
        if bndbox is None:
            raise DatasetError(f'{where} ({name}): <bndbox> is missing; '
                               'add its xmin, ymin, xmax, ymax or remove '
                               'the object')
        corners = [
            _number(bndbox.findtext(tag), f'{where} ({name})', f'<{tag}>')
            for tag in VOC_BOX_TAGS
        ]
        flags = {}
        for tag in VOC_OPTIONAL_FLAGS:
            text = (obj.findtext(tag) or '').strip()
            if obj.find(tag) is not None and not text:
                empty.append(f'object {index} <{tag}>')
            flags[tag] = bool(text) and _number(text, where, f'<{tag}>') != 0
        image.boxes.append(
            Box(*corners, label=name, ignore=flags['difficult'],
                entry=f'object {index}'))
    if empty:
        warnings.warn(
            f'{xml_path}: empty optional tags read as 0: {listed(empty)} '
            '(write 0 or 1, or leave the tag out)', DatasetWarning)
    return image


def _size_tag(root: ET.Element, tag: str) -> int:
    text = (root.findtext(f'size/{tag}') or '').strip()
    return int(float(text)) if text else 0


def read_voc_folder(xml_dir: str,
                    image_dir: Optional[str] = None) -> List[LabeledImage]:
    """Every ``*.xml`` of a folder, in name order."""
    names = sorted(name for name in os.listdir(xml_dir)
                   if name.lower().endswith('.xml'))
    if not names:
        raise DatasetError(f'{xml_dir}: no .xml file in this folder; point '
                           'at the folder of the VOC annotations')
    return [read_voc(osp.join(xml_dir, name), image_dir) for name in names]


def read_csv(csv_path: str,
             image_dir: Optional[str] = None) -> List[LabeledImage]:
    """Read a box-per-row CSV: ``image_path,xmin,ymin,xmax,ymax,label``
    (DeepForest's format; other columns are ignored).

    A row whose four coordinates are all 0 lists an image without objects,
    as DeepForest writes them. Image sizes come from the image files in
    ``image_dir`` (default: the CSV's folder).
    """
    image_dir = osp.dirname(csv_path) if image_dir is None else image_dir
    images: Dict[str, LabeledImage] = {}
    with open(csv_path, newline='') as handle:
        reader = csv.DictReader(handle)
        absent = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if absent:
            raise DatasetError(
                f'{csv_path}: columns {absent} are missing (the header is '
                f'{reader.fieldnames}); the header must name '
                f'{",".join(CSV_COLUMNS)}')
        for line, row in enumerate(reader, start=2):
            where = f'{csv_path}: line {line}'
            file_name = (row['image_path'] or '').strip()
            if not file_name:
                raise DatasetError(f'{where}: image_path is empty; fill it '
                                   'in or remove the row')
            if file_name not in images:
                width, height = image_size(osp.join(image_dir, file_name))
                images[file_name] = LabeledImage(file_name, width, height,
                                                 source=csv_path)
            corners = [_number(row[c], where, c) for c in VOC_BOX_TAGS]
            if not any(corners):
                continue
            label = (row['label'] or '').strip()
            if not label:
                raise DatasetError(f'{where}: label is empty; give the box '
                                   'its class name')
            images[file_name].boxes.append(
                Box(*corners, label=label, entry=f'line {line}'))
    if not images:
        raise DatasetError(f'{csv_path}: no rows under the header')
    return list(images.values())


def read_yolo(label_dir: str, image_dir: str,
              classes: Sequence[str]) -> List[LabeledImage]:
    """Read YOLO txt labels: one ``<image stem>.txt`` per image in
    ``label_dir``, a line ``class_index cx cy w h`` per box, normalised to
    the image size; an image without a txt file has no objects."""
    names = sorted(name for name in os.listdir(image_dir)
                   if name.lower().endswith(IMAGE_SUFFIXES))
    if not names:
        raise DatasetError(f'{image_dir}: no image files in this folder')
    images = []
    for name in names:
        width, height = image_size(osp.join(image_dir, name))
        txt = osp.join(label_dir, osp.splitext(name)[0] + '.txt')
        image = LabeledImage(name, width, height, source=txt)
        lines = []
        if osp.isfile(txt):
            with open(txt) as handle:
                lines = handle.read().splitlines()
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            where = f'{txt}: line {number}'
            fields = text.split()
            if len(fields) != 5:
                raise DatasetError(
                    f'{where}: {text!r} has {len(fields)} fields, not 5 '
                    '(class cx cy w h); polygons are not boxes: convert '
                    'them first')
            index = int(_number(fields[0], where, 'the class index'))
            if not 0 <= index < len(classes):
                raise DatasetError(
                    f'{where}: class index {index} is not one of the '
                    f'{len(classes)} classes {list(classes)}; pass the '
                    'classes in the order of the dataset\'s names list')
            cx, cy, w, h = (_number(v, where, 'a coordinate')
                            for v in fields[1:])
            image.boxes.append(
                Box((cx - w / 2) * width, (cy - h / 2) * height,
                    (cx + w / 2) * width, (cy + h / 2) * height,
                    label=classes[index], entry=f'line {number}'))
        images.append(image)
    return images


def relabel(images: Iterable[LabeledImage], mapping: Dict[str, str]) -> None:
    """Rename labels in place (e.g. ``{'Alive': 'Tree', 'Dead': 'Tree'}``
    to merge classes)."""
    for image in images:
        for box in image.boxes:
            box.label = mapping.get(box.label, box.label)


def clip_boxes(images: Iterable[LabeledImage]) -> None:
    """Clip boxes to their image and drop those with no area left, with a
    :class:`DatasetWarning` naming each (MMDetection would train on a box
    outside the image unclipped, or drop a degenerate one silently)."""
    clipped, dropped = [], []
    for image in images:
        kept = []
        for box in image.boxes:
            corners = (box.x1, box.y1, box.x2, box.y2)
            box.x1, box.x2 = (min(max(v, 0), image.width)
                              for v in (box.x1, box.x2))
            box.y1, box.y2 = (min(max(v, 0), image.height)
                              for v in (box.y1, box.y2))
            entry = f'{image.source}: {box.entry} {corners}'
            if box.x2 - box.x1 < 1 or box.y2 - box.y1 < 1:
                dropped.append(entry)
                continue
            if corners != (box.x1, box.y1, box.x2, box.y2):
                clipped.append(f'{entry} in {image.width}x{image.height}')
            kept.append(box)
        image.boxes = kept
    if clipped:
        warnings.warn(
            f'{len(clipped)} box(es) reach outside their image and were '
            f'clipped to it: {listed(clipped)}', DatasetWarning)
    if dropped:
        warnings.warn(
            f'{len(dropped)} box(es) have no area (xmax <= xmin or ymax <= '
            f'ymin, or wholly outside the image) and were dropped: '
            f'{listed(dropped)}; fix them in the source to keep them',
            DatasetWarning)


def to_coco(images: Sequence[LabeledImage],
            classes: Optional[Sequence[str]] = None) -> dict:
    """A COCO instances dict of ``images`` (clipped first, see
    :func:`clip_boxes`), categories ``1..N`` in the order of ``classes``
    (default: the labels in order of first appearance).

    Raises :class:`DatasetError` naming the box whose label is not a class.
    """
    clip_boxes(images)
    if classes is None:
        classes = list(dict.fromkeys(
            box.label for image in images for box in image.boxes))
    category = {name: index + 1 for index, name in enumerate(classes)}
    unknown = [
        f'{image.source}: {box.entry} {box.label!r}' for image in images
        for box in image.boxes if box.label not in category
    ]
    if unknown:
        raise DatasetError(
            f'{len(unknown)} box(es) have labels that are not among the '
            f'classes {list(classes)}: {listed(unknown)}; add the labels '
            'to the classes or map them onto one (--map NAME=CLASS)')
    coco = dict(images=[], annotations=[],
                categories=[dict(id=category[name], name=name)
                            for name in classes])
    for image_id, image in enumerate(images, start=1):
        coco['images'].append(
            dict(id=image_id, file_name=image.file_name, width=image.width,
                 height=image.height))
        for box in image.boxes:
            # Products of normalised YOLO values and differences of
            # corners carry float noise (32.00000000000003); a thousandth
            # of a pixel is far below any annotation's precision.
            x, y, w, h = (round(value, PIXEL_DECIMALS)
                          for value in (box.x1, box.y1, box.x2 - box.x1,
                                        box.y2 - box.y1))
            coco['annotations'].append(
                dict(id=len(coco['annotations']) + 1, image_id=image_id,
                     category_id=category[box.label], bbox=[x, y, w, h],
                     area=round(w * h, PIXEL_DECIMALS),
                     iscrowd=int(box.ignore)))
    return coco


def write_json(coco: dict, path: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as handle:
        json.dump(coco, handle)
