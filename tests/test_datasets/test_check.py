import json
import re
import shutil

import pytest
from mmengine.config import Config

from senet_mmdet.datasets import (DatasetError, DatasetNotFoundError,
                                  DatasetWarning, ToyShapesSpec,
                                  check_coco_annotations, check_dataset_files,
                                  make_toy_coco)

TOY_CLASSES = ('rectangle', 'ellipse', 'triangle')


def coco_like(root, ann='annotations/train.json', img='train/'):
    return dict(
        type='CocoDataset',
        data_root=str(root) + '/',
        ann_file=ann,
        data_prefix=dict(img=img),
        metainfo=dict(classes=TOY_CLASSES))


@pytest.fixture
def toy(tmp_path_factory, tmp_path):
    """A private copy of a small toy dataset, free to break."""
    cached = tmp_path_factory.getbasetemp() / 'check_toy'
    if not cached.exists():
        make_toy_coco(str(cached), ToyShapesSpec(num_train=4, num_val=2))
    shutil.copytree(cached, tmp_path / 'toy')
    return tmp_path / 'toy'


def edit(path, change):
    coco = json.loads(path.read_text())
    change(coco)
    path.write_text(json.dumps(coco))


def train_cfg(root):
    dataset = coco_like(root, 'annotations/instances_train.json', 'train/')
    return Config(dict(train_dataloader=dict(dataset=dataset)))


def test_valid_toy_dataset_passes(toy, recwarn):
    check_dataset_files(train_cfg(toy), ('train_dataloader', ))
    assert not [w for w in recwarn if w.category is DatasetWarning]


def test_missing_data_root_is_named_first(tmp_path):
    cfg = train_cfg(tmp_path / 'nowhere')
    with pytest.raises(DatasetNotFoundError) as info:
        check_dataset_files(cfg, ('train_dataloader', ))
    assert str(info.value).startswith(
        f'train_dataloader.dataset.data_root: {tmp_path}/nowhere/ does not '
        'exist')
    assert 'https://cocodataset.org/#download' in str(info.value)


def test_missing_annotation_names_loader_key_and_path(tmp_path):
    cfg = Config(dict(val_dataloader=dict(dataset=coco_like(tmp_path))))
    with pytest.raises(DatasetNotFoundError) as info:
        check_dataset_files(cfg, ('val_dataloader', ))
    assert str(info.value).startswith(
        f'val_dataloader.dataset.ann_file: {tmp_path}/annotations/train.json'
        ' does not exist')


def test_wrapped_datasets_are_checked(toy):
    inner = [
        coco_like(toy, 'annotations/instances_train.json', 'train/'),
        coco_like(toy, 'annotations/instances_train.json', 'extra/')
    ]
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='RepeatDataset',
                    times=2,
                    dataset=dict(type='ConcatDataset', datasets=inner)))))
    with pytest.raises(DatasetNotFoundError, match='data_prefix.img: .*extra'):
        check_dataset_files(cfg, ('train_dataloader', ))


def test_missing_image_file_names_file_and_image_id(toy):
    (toy / 'train' / '000003.png').unlink()
    with pytest.raises(DatasetError) as info:
        check_dataset_files(train_cfg(toy), ('train_dataloader', ))
    message = str(info.value)
    assert message.startswith(f'{toy}/annotations/instances_train.json: 1 '
                              'image file(s) listed in it do not exist')
    assert f'image id 3: {toy}/train/000003.png' in message


def test_malformed_json_names_file_line_and_column(toy):
    path = toy / 'annotations' / 'instances_train.json'
    path.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(DatasetError) as info:
        check_dataset_files(train_cfg(toy), ('train_dataloader', ))
    assert str(info.value).startswith(f'{path}: not valid JSON')
    # The trailing comma: Python <= 3.12 points after it (column 12),
    # 3.13 at it (column 11).
    assert re.search(r'at line 2, column 1[12]\)', str(info.value))


def test_json_without_coco_lists_is_refused(toy):
    path = toy / 'annotations' / 'instances_train.json'
    path.write_text('{"images": []}')
    with pytest.raises(DatasetError,
                       match=r"no \['annotations', 'categories'\] list"):
        check_dataset_files(train_cfg(toy), ('train_dataloader', ))


@pytest.mark.parametrize('bbox', [[10, 10, 0, 5], [10, 10, 5, 0.5]])
def test_degenerate_box_warns_with_annotation_and_image(toy, bbox):
    path = toy / 'annotations' / 'instances_train.json'

    def degenerate(coco):
        coco['annotations'][1]['bbox'] = bbox

    edit(path, degenerate)
    ann = json.loads(path.read_text())['annotations'][1]
    with pytest.warns(DatasetWarning) as record:
        check_dataset_files(train_cfg(toy), ('train_dataloader', ))
    message = str(record[0].message)
    total = len(json.loads(path.read_text())['annotations'])
    assert message.startswith(
        f'{path}: 1 of {total} boxes are degenerate (width or height < 1 px) '
        '(ignored in training): ')
    assert (f'annotation id {ann["id"]} (image id {ann["image_id"]}, '
            f'{ann["image_id"]:06d}.png): bbox {bbox}') in message


def test_empty_area_warns(toy):
    path = toy / 'annotations' / 'instances_train.json'
    edit(path, lambda coco: coco['annotations'][0].update(area=0))
    with pytest.warns(DatasetWarning, match='annotation id 1 '):
        check_coco_annotations(str(path), str(toy / 'train'), TOY_CLASSES)


def test_malformed_box_and_unknown_ids_are_errors(toy):
    path = toy / 'annotations' / 'instances_train.json'

    def break_three(coco):
        coco['annotations'][0]['bbox'] = [1, 2, 3]
        coco['annotations'][1]['category_id'] = 9
        coco['annotations'][2]['image_id'] = 99

    edit(path, break_three)
    with pytest.raises(DatasetError) as info:
        check_coco_annotations(str(path), str(toy / 'train'), TOY_CLASSES)
    message = str(info.value)
    assert '3 broken annotation(s)' in message
    assert ('annotation id 1 (image id 1, 000001.png): bbox [1, 2, 3] is '
            'not') in message
    assert 'category_id 9 is not in "categories"' in message
    assert 'annotation id 3 (image id 99): no image with this id' in message


def test_class_list_not_in_annotations_is_an_error(toy):
    cfg = train_cfg(toy)
    cfg.train_dataloader.dataset.metainfo = dict(
        classes=('rectangle', 'circle'))
    with pytest.raises(DatasetError) as info:
        check_dataset_files(cfg, ('train_dataloader', ))
    message = str(info.value)
    assert message.startswith(
        f"{toy}/annotations/instances_train.json: the config's classes "
        "['circle'] are not categories of this file")
    # The file's order, the order the classes must be given in.
    assert "which has ['rectangle', 'ellipse', 'triangle']" in message
    assert 'metainfo=dict(classes=' in message
    assert 'Classes set in a child config do not reach' in message


def test_default_coco_classes_against_toy_annotations(toy):
    cfg = train_cfg(toy)
    del cfg.train_dataloader.dataset.metainfo
    with pytest.raises(DatasetError, match=r"classes \['person', 'bicycle'"):
        check_dataset_files(cfg, ('train_dataloader', ))


def test_class_subset_warns_about_the_rest(toy):
    cfg = train_cfg(toy)
    cfg.train_dataloader.dataset.metainfo = dict(classes=('ellipse', ))
    with pytest.warns(DatasetWarning,
                      match=r"categories \['rectangle', 'triangle'\] are not"):
        check_dataset_files(cfg, ('train_dataloader', ))


def test_toy_dataset_is_written_by_the_check(tmp_path):
    dataset = dict(
        type='ToyShapesDataset',
        data_root=str(tmp_path / 'toy') + '/',
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        toy_spec=dict(num_train=2, num_val=2))
    check_dataset_files(
        Config(dict(val_dataloader=dict(dataset=dataset))),
        ('val_dataloader', ))
    assert (tmp_path / 'toy' / 'val' / '000002.png').is_file()


@pytest.mark.parametrize('key', ['images', 'annotations'])
def test_empty_lists_are_errors_naming_the_loader(toy, key):
    path = toy / 'annotations' / 'instances_train.json'
    edit(path, lambda coco: coco.update({key: []}))
    with pytest.raises(DatasetError) as info:
        check_dataset_files(train_cfg(toy), ('train_dataloader', ))
    assert str(info.value).startswith(
        f'{path}: "{key}" is empty, so train_dataloader has nothing to train '
        'on or evaluate')


def test_repeated_ids_and_file_names_are_errors(toy):
    path = toy / 'annotations' / 'instances_train.json'

    def repeat(coco):
        coco['images'][1]['id'] = coco['images'][0]['id']
        coco['images'][2]['file_name'] = coco['images'][3]['file_name']
        coco['annotations'][1]['id'] = coco['annotations'][0]['id']

    edit(path, repeat)
    with pytest.raises(DatasetError) as info:
        check_coco_annotations(str(path), str(toy / 'train'), TOY_CLASSES)
    assert str(info.value) == (
        f'{path}: ids and names must be unique, but these repeat: '
        'image id 1; image file_name 000004.png; annotation id 1; '
        'renumber the entries (or merge the files with a tool that does)')


def test_boxes_outside_the_image_are_counted_and_named(toy):
    path = toy / 'annotations' / 'instances_train.json'

    def move(coco):
        width = coco['images'][0]['width']
        coco['annotations'][0]['bbox'] = [width + 5, 10, 20, 20]
        coco['annotations'][1]['bbox'] = [-30, 10, 20, 20]
        coco['annotations'][2]['bbox'] = [width - 10, 10, 20, 20]

    edit(path, move)
    with pytest.warns(DatasetWarning) as record:
        check_coco_annotations(str(path), str(toy / 'train'), TOY_CLASSES)
    messages = [str(warning.message) for warning in record]
    total = len(json.loads(path.read_text())['annotations'])
    assert messages[0].startswith(
        f'{path}: 2 of {total} boxes are outside (ignored in training): '
        'annotation id 1 (image id 1, 000001.png): bbox [261, 10, 20, '
        '20] outside the 256x256 image; annotation id 2')
    assert messages[1].startswith(
        f'{path}: 1 of {total} boxes are partly outside (kept unclipped): '
        'annotation id 3')


def truncate(image):
    image.write_bytes(image.read_bytes()[:200])


def test_check_images_names_undecodable_files(toy, capsys):
    path = toy / 'annotations' / 'instances_train.json'
    check_dataset_files(train_cfg(toy), ('train_dataloader', ),
                        check_images=True)
    assert '4/4' in capsys.readouterr().out
    truncate(toy / 'train' / '000003.png')
    check_dataset_files(train_cfg(toy), ('train_dataloader', ))
    with pytest.raises(DatasetError) as info:
        check_dataset_files(train_cfg(toy), ('train_dataloader', ),
                            check_images=True)
    assert str(info.value).startswith(
        f'{path}: 1 image(s) do not decode: image id 3: '
        f'{toy}/train/000003.png (')
    assert '200 bytes' in str(info.value)


def test_classes_in_another_order_than_the_file_are_an_error(toy):
    """CocoDataset numbers labels in the file's category order and names
    them after the config's classes: another order would name every
    prediction after the wrong class."""
    cfg = train_cfg(toy)
    cfg.train_dataloader.dataset.metainfo = dict(
        classes=('ellipse', 'rectangle', 'triangle'))
    with pytest.raises(DatasetError) as info:
        check_dataset_files(cfg, ('train_dataloader', ))
    assert str(info.value) == (
        f"{toy}/annotations/instances_train.json: the config lists classes "
        "['ellipse', 'rectangle', 'triangle'], but this file lists these "
        "categories in the order ['rectangle', 'ellipse', 'triangle'] (ids "
        "[1, 2, 3]), and MMDetection numbers the labels in the file's "
        'order: predictions would carry the wrong class names. Set '
        "metainfo=dict(classes=('rectangle', 'ellipse', 'triangle')) (and "
        'keep num_classes), or reorder "categories" in the file')


def add_background(coco):
    """What labelme's COCO export writes first."""
    coco['categories'].insert(0, dict(id=0, name='_background_'))


def test_labelme_background_category_is_refused_as_a_class(toy, recwarn):
    path = toy / 'annotations' / 'instances_train.json'
    edit(path, add_background)
    # Left out of the classes, it is what it is: no class, no warning.
    check_dataset_files(train_cfg(toy), ('train_dataloader', ))
    assert not [w for w in recwarn if w.category is DatasetWarning]
    cfg = train_cfg(toy)
    cfg.train_dataloader.dataset.metainfo = dict(
        classes=('_background_', ) + TOY_CLASSES)
    with pytest.raises(DatasetError) as info:
        check_dataset_files(cfg, ('train_dataloader', ))
    assert str(info.value).startswith(
        f"{path}: the config's classes include category id 0 "
        "'_background_', which marks unlabelled pixels (labelme's COCO "
        'export writes it), not objects')
    assert 'count num_classes without it' in str(info.value)


def test_repeated_category_names_are_an_error(toy):
    path = toy / 'annotations' / 'instances_train.json'
    edit(path, lambda coco: coco['categories'].append(
        dict(id=4, name='ellipse')))
    with pytest.raises(DatasetError, match='category name ellipse'):
        check_dataset_files(train_cfg(toy), ('train_dataloader', ))


def with_model(cfg, num_classes):
    cfg.model = dict(
        rpn_head=dict(num_classes=1),
        roi_head=dict(bbox_head=[dict(num_classes=num_classes)] * 2,
                      mask_head=dict(num_classes=3)))
    return cfg


def test_num_classes_must_count_the_classes(toy):
    check_dataset_files(with_model(train_cfg(toy), 3), ('train_dataloader', ))
    with pytest.raises(DatasetError) as info:
        check_dataset_files(with_model(train_cfg(toy), 80),
                            ('train_dataloader', ))
    assert str(info.value) == (
        'model.roi_head.bbox_head.0.num_classes=80, '
        'model.roi_head.bbox_head.1.num_classes=80, but '
        "train_dataloader.dataset.metainfo has 3 classes ['rectangle', "
        "'ellipse', 'triangle']; set num_classes=3 in each head (the "
        'background is not counted)')


def test_loaders_must_agree_on_the_classes(toy):
    cfg = train_cfg(toy)
    cfg.val_dataloader = dict(dataset=coco_like(
        toy, 'annotations/instances_val.json', 'val/'))
    cfg.val_dataloader.dataset.metainfo = dict(classes=('rectangle', ))
    with pytest.raises(DatasetError) as info:
        check_dataset_files(cfg, ('train_dataloader', 'val_dataloader'))
    assert str(info.value).startswith(
        "val_dataloader.dataset.metainfo classes ['rectangle'] differ from "
        "train_dataloader.dataset.metainfo classes ['rectangle', 'ellipse', "
        "'triangle']")


@pytest.mark.parametrize('filter_empty_gt, consequence', [
    (True, 'they are skipped by training (filter_cfg=dict(filter_empty_gt='
     'True)); if they show no object and should teach the background, set '
     'filter_empty_gt=False'),
    (False, 'they are used by train_dataloader as images without objects '
     '(any detection there is a false positive)'),
])
def test_images_without_boxes_warn_saying_what_happens(toy, filter_empty_gt,
                                                       consequence):
    path = toy / 'annotations' / 'instances_train.json'
    edit(path, lambda coco: coco.update(annotations=[
        ann for ann in coco['annotations'] if ann['image_id'] != 2]))
    cfg = train_cfg(toy)
    cfg.train_dataloader.dataset.filter_cfg = dict(
        filter_empty_gt=filter_empty_gt)
    with pytest.warns(DatasetWarning) as record:
        check_dataset_files(cfg, ('train_dataloader', ))
    assert [str(w.message) for w in record] == [
        f'{path}: 1 of 4 images have no box of the classes: image id 2 '
        f'(000002.png); {consequence}; if their boxes are missing, add them'
    ]
