"""Fail before training, with directions, when a config's data is absent
or its COCO annotations are broken.

MMDetection silently drops boxes it cannot use and ignores configured class
names that the annotation file lacks; a typo then trains a detector on less
data than intended without a word. These checks name the file and the entry.
"""
import json
import os.path as osp
import sys
import warnings
from functools import partial
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from senet_mmdet.utils import listing
from .toy import ToyShapesSpec, make_toy_coco

COCO_HINT = (
    'COCO 2017 comes from https://cocodataset.org/#download ("2017 Train '
    'images", "2017 Val images", "2017 Train/Val annotations"); unpack it '
    'so that {root}annotations/ and {root}train2017/ exist, or point the '
    'config at your copy with --cfg-options {loader}.dataset.data_root='
    '/path/to/coco/ (likewise for the other dataloaders).')

# How many bad entries an error or warning lists before "and N more".
MAX_LISTED = 5
# The bad entries, as an error or a warning names them.
listed = partial(listing, limit=MAX_LISTED, separator='; ')


class DatasetError(ValueError):
    """A config's dataset is unusable: the message names file and entry."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A file or folder that a config's dataset reads does not exist."""


class DatasetWarning(UserWarning):
    """Annotations that MMDetection would skip without saying so."""


def _leaf_datasets(dataset: dict) -> Iterator[dict]:
    """The datasets that read files, through wrappers such as
    RepeatDataset (``dataset``) and ConcatDataset (``datasets``)."""
    if 'dataset' in dataset:
        yield from _leaf_datasets(dataset['dataset'])
    elif 'datasets' in dataset:
        for inner in dataset['datasets']:
            yield from _leaf_datasets(inner)
    else:
        yield dataset


def _dataset_paths(dataset: dict) -> Iterator[Tuple[str, str]]:
    """``(what, path)`` for the annotation file and the image folders,
    joined to ``data_root`` as mmengine's BaseDataset joins them."""
    root = dataset.get('data_root') or ''
    if root:
        yield 'data_root', root
    ann_file = dataset.get('ann_file')
    if ann_file:
        yield 'ann_file', osp.join(root, ann_file)
    for key, prefix in (dataset.get('data_prefix') or {}).items():
        if prefix:
            yield f'data_prefix.{key}', osp.join(root, prefix)


def loader_data_paths(cfg: Config,
                      loaders: Sequence[str]) -> Iterator[Tuple[str, str, str]]:
    """``(what, path, data_root)`` for the annotation file and the image
    folders of every dataset the ``loaders`` read, ``what`` as a key path
    (``train_dataloader.dataset.ann_file``); absent loaders are skipped."""
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for dataset in _leaf_datasets(loader_cfg['dataset']):
            root = dataset.get('data_root') or ''
            for what, path in _dataset_paths(dataset):
                if what != 'data_root':
                    yield f'{loader}.dataset.{what}', path, root


def _load_json(path: str) -> dict:
    try:
        with open(path) as file:
            coco = json.load(file)
    except json.JSONDecodeError as error:
        raise DatasetError(
            f'{path}: not valid JSON ({error.msg} at line {error.lineno}, '
            f'column {error.colno}); re-download or re-export the '
            'annotation file') from None
    missing = [
        key for key in ('images', 'annotations', 'categories')
        if not isinstance(coco, dict) or not isinstance(coco.get(key), list)
    ]
    if missing:
        raise DatasetError(
            f'{path}: not a COCO instances file: no {missing} list at the '
            'top level (expected "images", "annotations", "categories")')
    return coco


# Category names that stand for "no object" (labelme's COCO export writes
# ``{"id": 0, "name": "_background_"}``); MMDetection has no background
# class: its heads add one of their own after the num_classes object classes.
BACKGROUND_NAMES = ('_background_', 'background', '__background__')


def _check_classes(path: str, coco: dict,
                   classes: Optional[Sequence[str]]) -> Dict[int, str]:
    """Category id -> name; error if a configured class is not there, is a
    background category, or if the configured order is not the file's."""
    categories = {cat.get('id'): cat.get('name') for cat in coco['categories']}
    if classes is None:
        return categories
    background = [
        f'category id {cat_id} {name!r}'
        for cat_id, name in categories.items()
        if str(name).lower() in BACKGROUND_NAMES and name in classes
    ]
    if background:
        raise DatasetError(
            f'{path}: the config\'s classes include {listed(background)}, '
            'which marks unlabelled pixels (labelme\'s COCO export writes '
            'it), not objects: MMDetection adds a background class of its '
            'own. Remove it from metainfo=dict(classes=(...)) and count '
            'num_classes without it')
    absent = [name for name in classes if name not in categories.values()]
    if absent:
        raise DatasetError(
            f'{path}: the config\'s classes {absent} are not categories of '
            f'this file, which has {list(map(str, categories.values()))}; '
            'set the dataset\'s metainfo=dict(classes=(...)) to names from '
            'the file (and num_classes in the heads to match). Classes set '
            'in a child config do not reach a metainfo its base computed '
            'from them: set metainfo in the child, or copy the base')
    # CocoDataset numbers the labels in the file's category order
    # (``get_cat_ids`` filters "categories" as listed) but names label i
    # after classes[i]: another order trains and evaluates correctly and
    # names every prediction after another class.
    in_file = [name for name in categories.values() if name in classes]
    if in_file != list(classes):
        raise DatasetError(
            f'{path}: the config lists classes {list(classes)}, but this '
            f'file lists these categories in the order {in_file} (ids '
            f'{[i for i, n in categories.items() if n in classes]}), and '
            'MMDetection numbers the labels in the file\'s order: '
            'predictions would carry the wrong class names. Set '
            f'metainfo=dict(classes={tuple(in_file)!r}) (and keep '
            'num_classes), or reorder "categories" in the file')
    unused = sorted(
        str(name) for name in categories.values()
        if name not in classes and str(name).lower() not in BACKGROUND_NAMES)
    if unused:
        warnings.warn(
            f'{path}: categories {unused} are not among the config\'s '
            'classes; their annotations will be ignored', DatasetWarning)
    return categories


def _duplicates(entries: List[dict], key: str) -> List[str]:
    """The values of ``key`` that more than one entry has."""
    seen, repeated = set(), []
    for entry in entries:
        value = entry.get(key)
        if value in seen and str(value) not in repeated:
            repeated.append(str(value))
        seen.add(value)
    return repeated


def _check_unique(ann_file: str, coco: dict) -> None:
    """pycocotools indexes images and annotations by id: a repeated id
    silently replaces an entry in evaluation, and a repeated file name
    trains one picture twice under two sets of boxes; a category name
    listed twice gives one class two labels."""
    repeats = [
        f'{what} {key} {listed(values)}'
        for what, entries, key in (('image', coco['images'], 'id'),
                                   ('image', coco['images'], 'file_name'),
                                   ('annotation', coco['annotations'], 'id'),
                                   ('category', coco['categories'], 'id'),
                                   ('category', coco['categories'], 'name'))
        if (values := _duplicates(entries, key))
    ]
    if repeats:
        raise DatasetError(
            f'{ann_file}: ids and names must be unique, but these '
            f'repeat: {"; ".join(repeats)}; renumber the entries (or merge '
            'the files with a tool that does)')


def _box_problem(bbox: list, width, height) -> Optional[str]:
    """Why MMDetection would drop or mistrain on a COCO ``[x, y, w, h]``
    box, or None: degenerate boxes and boxes wholly outside the image are
    dropped without a word; boxes partly outside are kept unclipped."""
    x, y, w, h = bbox
    if w < 1 or h < 1:
        return 'degenerate (width or height < 1 px)'
    if not isinstance(width, (int, float)) or not isinstance(
            height, (int, float)):
        return None
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        return f'outside the {width}x{height} image'
    if x < 0 or y < 0 or x + w > width or y + h > height:
        return f'partly outside the {width}x{height} image'
    return None


def check_image_files(ann_file: str, img_dir: str, images: List[dict],
                      progress: bool = True) -> None:
    """Decode every image as the pipeline's ``LoadImageFromFile`` does
    (mmcv, cv2 backend) and raise :class:`DatasetError` naming those that
    do not decode; warn about images whose size differs from the
    annotation file's ``width``/``height``, which the boxes assume."""
    import mmcv
    from mmengine.utils import ProgressBar
    # sys.stdout now, not mmengine's default bound when it was imported.
    bar = ProgressBar(len(images), file=sys.stdout) if progress else None
    broken, resized = [], []
    for image in images:
        path = osp.join(img_dir, image['file_name'])
        with open(path, 'rb') as file:
            content = file.read()
        try:
            decoded = mmcv.imfrombytes(content, backend='cv2')
        except Exception as error:  # any decoder failure names the file
            decoded, reason = None, f'{type(error).__name__}: {error}'
        else:
            reason = 'the decoder returned no image'
        if decoded is None:
            broken.append(f'image id {image.get("id")}: {path} ({reason}, '
                          f'{len(content)} bytes)')
        elif (image.get('height'), image.get('width')) != decoded.shape[:2]:
            resized.append(f'image id {image.get("id")}: {path} is '
                           f'{decoded.shape[1]}x{decoded.shape[0]}, listed '
                           f'as {image.get("width")}x{image.get("height")}')
        if bar is not None:
            bar.update()
    if bar is not None:
        print()
    if broken:
        raise DatasetError(
            f'{ann_file}: {len(broken)} image(s) do not decode: '
            f'{listed(broken)}; re-download or re-encode them, or remove '
            'their entries (and annotations)')
    if resized:
        warnings.warn(
            f'{ann_file}: {len(resized)} image(s) differ in size from the '
            f'annotation file, so their boxes may not match: '
            f'{listed(resized)}', DatasetWarning)


def _warn_empty_images(ann_file: str, coco: dict, classes: Dict[int, str],
                       use: str, skips_empty: bool) -> None:
    """Warn about images without a box of the classes, saying what
    ``use`` does with them (MMDetection does it silently)."""
    boxed = {ann.get('image_id') for ann in coco['annotations']
             if ann.get('category_id') in classes}
    empty = [f'image id {image.get("id")} ({image.get("file_name")})'
             for image in coco['images'] if image.get('id') not in boxed]
    if not empty:
        return
    if skips_empty:
        what = ('skipped by training (filter_cfg=dict(filter_empty_gt='
                'True)); if they show no object and should teach the '
                'background, set filter_empty_gt=False')
    else:
        what = (f'used by {use} as images without objects (any detection '
                'there is a false positive)')
    warnings.warn(
        f'{ann_file}: {len(empty)} of {len(coco["images"])} images have no '
        f'box of the classes: {listed(empty)}; they are {what}; if their '
        'boxes are missing, add them', DatasetWarning)


def check_coco_annotations(ann_file: str,
                           img_dir: str,
                           classes: Optional[Sequence[str]] = None,
                           use: str = 'the run',
                           check_images: bool = False,
                           skips_empty: bool = False) -> None:
    """Check a COCO instances file against its image folder and classes.

    Raises :class:`DatasetError` for malformed JSON, no images or no
    annotations, repeated ids or file names, a missing image file,
    configured classes absent from the file, or an annotation whose image
    or category does not exist, and with ``check_images`` for an image that
    does not decode (:func:`check_image_files`). Warns
    (:class:`DatasetWarning`) about degenerate boxes and boxes outside
    their image, and images without a box of the classes, counted, with
    the first few named.

    Args:
        use: What reads the file, for the messages (e.g. the loader key).
        skips_empty: Whether the dataset leaves out images without boxes
            (``filter_cfg=dict(filter_empty_gt=True)``), for the warning.
    """
    coco = _load_json(ann_file)
    for key in ('images', 'annotations'):
        if not coco[key]:
            raise DatasetError(
                f'{ann_file}: "{key}" is empty, so {use} has nothing to '
                'train on or evaluate (training would fail on an empty '
                'batch; evaluation would report AP -1); point ann_file at '
                'the right instances file')
    _check_unique(ann_file, coco)
    categories = _check_classes(ann_file, coco, classes)
    images = {}
    missing_images = []
    for image in coco['images']:
        images[image.get('id')] = image
        file_name = image.get('file_name')
        if not file_name or not osp.isfile(osp.join(img_dir, file_name)):
            missing_images.append(
                f'image id {image.get("id")}: '
                f'{osp.join(img_dir, str(file_name))}')
    if missing_images:
        raise DatasetError(
            f'{ann_file}: {len(missing_images)} image file(s) listed in it '
            f'do not exist: {listed(missing_images)}; check data_prefix '
            'or restore the files')
    broken, unusable = [], {}
    for ann in coco['annotations']:
        image = images.get(ann.get('image_id'))
        entry = (f'annotation id {ann.get("id")} (image id '
                 f'{ann.get("image_id")}'
                 f'{", " + str(image.get("file_name")) if image else ""})')
        bbox = ann.get('bbox')
        if image is None:
            broken.append(f'{entry}: no image with this id')
        elif ann.get('category_id') not in categories:
            broken.append(
                f'{entry}: category_id {ann.get("category_id")} is not in '
                '"categories"')
        elif not (isinstance(bbox, list) and len(bbox) == 4 and all(
                isinstance(v, (int, float)) for v in bbox)):
            broken.append(f'{entry}: bbox {bbox!r} is not [x, y, w, h]')
        elif ann.get('area', 1) <= 0:
            unusable.setdefault('with area <= 0 (ignored in training)',
                                []).append(f'{entry}: bbox {bbox}')
        elif problem := _box_problem(bbox, image.get('width'),
                                     image.get('height')):
            kind = problem.split(' the ')[0]
            consequence = ('kept unclipped' if kind == 'partly outside' else
                           'ignored in training')
            unusable.setdefault(f'{kind} ({consequence})', []).append(
                f'{entry}: bbox {bbox} {problem}')
    if broken:
        raise DatasetError(f'{ann_file}: {len(broken)} broken annotation(s): '
                           f'{listed(broken)}')
    for kind, entries in unusable.items():
        warnings.warn(
            f'{ann_file}: {len(entries)} of {len(coco["annotations"])} '
            f'boxes are {kind}: {listed(entries)}', DatasetWarning)
    _warn_empty_images(ann_file, coco, {
        cat_id: name for cat_id, name in categories.items()
        if classes is None or name in classes
    }, use, skips_empty)
    if check_images:
        check_image_files(ann_file, img_dir, coco['images'])


def _coco_classes(dataset: dict) -> Optional[Sequence[str]]:
    """The class names a COCO-style dataset config will use, or None when
    its type is not a :class:`CocoDataset`."""
    dataset_type = DATASETS.get(dataset.get('type', ''))
    if not (isinstance(dataset_type, type)
            and issubclass(dataset_type, CocoDataset)):
        return None
    metainfo = dataset.get('metainfo') or {}
    return metainfo.get('classes') or dataset_type.METAINFO['classes']


def check_dataset_files(cfg: Config,
                        loaders: Sequence[str],
                        check_images: bool = False) -> None:
    """Raise :class:`DatasetNotFoundError` naming the first missing path,
    then check each COCO-style dataset with :func:`check_coco_annotations`.

    Args:
        cfg: A loaded config.
        loaders: The dataloader keys to check, e.g. ``('train_dataloader',
            'val_dataloader')``; keys that are absent or None are skipped.
        check_images: Also decode every image (minutes on COCO).

    Then the loaders must agree on the classes and the model's heads on
    their number (``num_classes``).
    """
    used_classes: Dict[str, tuple] = {}
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for dataset in _leaf_datasets(loader_cfg['dataset']):
            if dataset.get('type') == 'ToyShapesDataset':
                # Written on first use, here rather than in each worker.
                make_toy_coco(dataset['data_root'],
                              ToyShapesSpec(**dataset.get('toy_spec', {})))
            paths = dict(_dataset_paths(dataset))
            for what, path in paths.items():
                if not osp.exists(path):
                    root = dataset.get('data_root') or ''
                    raise DatasetNotFoundError(
                        f'{loader}.dataset.{what}: {path} does not exist '
                        f'(data_root={root!r}, working directory '
                        f'{osp.abspath(".")}). ' +
                        COCO_HINT.format(root=root, loader=loader))
            classes = _coco_classes(dataset)
            if classes is not None and 'ann_file' in paths:
                check_coco_annotations(
                    paths['ann_file'],
                    paths.get('data_prefix.img',
                              dataset.get('data_root') or ''), classes,
                    use=loader, check_images=check_images,
                    skips_empty=(dataset.get('filter_cfg') or {}).get(
                        'filter_empty_gt', False))
            if classes is not None:
                used_classes[f'{loader}.dataset'] = tuple(classes)
    _check_num_classes(cfg, used_classes)


def _num_classes(node, path: str = 'model') -> Iterator[Tuple[str, int]]:
    """``(key path, value)`` of every ``num_classes`` of the model's
    heads but the RPN's (one class-agnostic "object" class)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'num_classes' and isinstance(value, int):
                yield f'{path}.{key}', value
            elif key != 'rpn_head':
                yield from _num_classes(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _num_classes(value, f'{path}.{index}')


def _check_num_classes(cfg: Config, used_classes: Dict[str, tuple]) -> None:
    """The checked loaders must agree on the classes, and every head's
    ``num_classes`` must count them: a head with more classes trains some
    that never occur, one with fewer fails on the first label past its
    end (or, in evaluation, names predictions after the wrong class)."""
    if not used_classes:
        return
    (first, classes), *others = used_classes.items()
    for where, other in others:
        if other != classes:
            raise DatasetError(
                f'{where}.metainfo classes {list(other)} differ from '
                f'{first}.metainfo classes {list(classes)}: the model '
                'would learn one list of labels and be evaluated on '
                'another; give every dataloader the same '
                'metainfo=dict(classes=(...))')
    wrong = [f'{path}={value}'
             for path, value in _num_classes(cfg.get('model') or {})
             if value != len(classes)]
    if wrong:
        raise DatasetError(
            f'{", ".join(wrong)}, but {first}.metainfo has '
            f'{len(classes)} classes {list(classes)[:MAX_LISTED * 2]}; set '
            f'num_classes={len(classes)} in each head (the background is '
            'not counted)')
