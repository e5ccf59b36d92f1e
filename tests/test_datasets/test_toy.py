import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from senet_mmdet.datasets import (TOY_CLASSES, ToyShapesDataset,
                                  ToyShapesSpec, make_toy_coco)

SMALL = ToyShapesSpec(num_train=12, num_val=6)


def digest(root):
    return {
        str(path.relative_to(root)):
        hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob('*')) if path.is_file()
    }


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    return make_toy_coco(str(tmp_path_factory.mktemp('toy') / 'shapes'),
                         SMALL)


def load(root, split):
    with open(f'{root}/annotations/instances_{split}.json') as file:
        return json.load(file)


def test_writes_images_and_coco_annotations(toy_root):
    for split, count in (('train', 12), ('val', 6)):
        coco = load(toy_root, split)
        assert len(coco['images']) == count
        assert [c['name'] for c in coco['categories']] == list(TOY_CLASSES)
        per_image = np.bincount([a['image_id'] for a in coco['annotations']],
                                minlength=count + 1)[1:]
        assert per_image.min() >= SMALL.min_objects
        assert per_image.max() <= SMALL.max_objects
        for image in coco['images']:
            pixels = cv2.imread(f'{toy_root}/{split}/{image["file_name"]}')
            assert pixels.shape == (256, 256, 3)


def test_polygons_boxes_and_areas_agree(toy_root):
    coco = load(toy_root, 'train')
    for ann in coco['annotations']:
        rle = mask_utils.merge(
            mask_utils.frPyObjects(ann['segmentation'], 256, 256))
        polygon_area = float(mask_utils.area(rle))
        # Polygons trace pixel centres, so they lose about half a pixel of
        # the border; the box is the visible mask's.
        assert polygon_area == pytest.approx(ann['area'], rel=0.25)
        x, y, w, h = mask_utils.toBbox(rle)
        assert x >= ann['bbox'][0] - 1 and y >= ann['bbox'][1] - 1
        assert x + w <= ann['bbox'][0] + ann['bbox'][2] + 1
        assert y + h <= ann['bbox'][1] + ann['bbox'][3] + 1


def test_some_objects_overlap(toy_root):
    coco = load(toy_root, 'train')
    overlapping = 0
    for image in coco['images']:
        boxes = np.array([
            a['bbox'] for a in coco['annotations']
            if a['image_id'] == image['id']
        ], np.float64)
        ious = mask_utils.iou(boxes, boxes, [0] * len(boxes))
        overlapping += int((np.triu(ious, 1) > 0).any())
    assert overlapping > 0


def test_same_spec_same_files_other_seed_other_files(tmp_path, toy_root):
    again = make_toy_coco(str(tmp_path / 'again'), SMALL)
    assert digest(Path(again)) == digest(Path(toy_root))
    other = make_toy_coco(
        str(tmp_path / 'other'), ToyShapesSpec(num_train=12, num_val=6,
                                               seed=1))
    assert digest(Path(other)) != digest(Path(toy_root))


def test_existing_dataset_is_reused_not_rewritten(toy_root):
    before = {p: p.stat().st_mtime_ns for p in Path(toy_root).rglob('*')}
    make_toy_coco(toy_root, SMALL)
    assert {p: p.stat().st_mtime_ns
            for p in Path(toy_root).rglob('*')} == before


def test_refuses_a_folder_with_other_contents(tmp_path, toy_root):
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='does not hold the toy'):
        make_toy_coco(str(tmp_path / 'mine'), SMALL)
    assert (tmp_path / 'mine' / 'notes.txt').read_text() == 'keep me'
    with pytest.raises(FileExistsError, match='delete it or pick another'):
        make_toy_coco(toy_root, ToyShapesSpec(num_train=13, num_val=6))


def test_dataset_writes_on_first_use(tmp_path):
    dataset = ToyShapesDataset(
        data_root=str(tmp_path / 'toy'),
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        toy_spec=dict(num_train=4, num_val=3),
        test_mode=True,
        pipeline=[])
    assert len(dataset) == 3
    assert dataset.metainfo['classes'] == TOY_CLASSES
    assert (tmp_path / 'toy' / 'train' / '000004.png').is_file()
    # Nothing half-written is left beside it.
    assert [p.name for p in tmp_path.iterdir()] == ['toy']


def test_dataset_needs_data_root():
    with pytest.raises(ValueError, match='ToyShapesDataset needs data_root'):
        ToyShapesDataset(ann_file='a.json', pipeline=[])
