"""configs/own_dataset/: the template a user copies for their own COCO-format
dataset, trained and tested through our tools on a generated dataset with
other classes; and the trees example's plain twin."""
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from senet_mmdet.apis import config_diff
from senet_mmdet.datasets import read_csv, to_coco, write_json
from senet_mmdet.engine import load_weights_only
from ..test_tools.utils import metrics, python_blocks, python_tool, run

REPO = Path(__file__).parents[2]
TEMPLATE = (REPO / 'configs' / 'own_dataset' /
            'faster-rcnn_se-r50_fpn_1x_own-dataset.py')
TREES = REPO / 'configs' / 'trees'
# The two lines docs/own_dataset.md tells a user to edit.
EDITED_LINES = ("data_root = 'data/own_dataset/'",
                "classes = ('balloon', 'kite')")
CLASSES = ('nest', 'egg')


def user_dataset(root: Path) -> None:
    """Images with coloured squares (nests) and discs (eggs), boxes written
    as a CSV and converted the way docs/own_dataset.md converts one."""
    rng = np.random.default_rng(0)
    for split, count in (('train', 4), ('val', 2)):
        (root / split).mkdir(parents=True)
        rows = ['image_path,xmin,ymin,xmax,ymax,label']
        for index in range(count):
            image = np.full((96, 128, 3), 200, np.uint8)
            for label, (x, y) in zip(CLASSES, ((10, 20), (70, 40))):
                x, y = x + int(rng.integers(0, 10)), y + int(rng.integers(0, 10))
                if label == 'nest':
                    image[y:y + 30, x:x + 30] = (40, 90, 160)
                else:
                    cv2.circle(image, (x + 15, y + 15), 15, (30, 200, 30), -1)
                rows.append(f'{index}.png,{x},{y},{x + 30},{y + 30},{label}')
            cv2.imwrite(str(root / split / f'{index}.png'), image)
        (root / split / 'boxes.csv').write_text('\n'.join(rows) + '\n')
        coco = to_coco(read_csv(str(root / split / 'boxes.csv')), CLASSES)
        write_json(coco, str(root / 'annotations' / f'instances_{split}.json'))


def small_run(user_config: Path) -> Path:
    """What this machine needs on top of the user's config: no ImageNet
    weights (none can be fetched here), 128 px images, one short epoch."""
    resize = "dict(type='Resize', scale=(128, 128), keep_ratio=True)"
    loader = ('dict(batch_size=2, num_workers=0, persistent_workers=False, '
              'dataset=dict(pipeline=[{}]))')
    train = ("dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', "
             f"with_bbox=True), {resize}, dict(type='PackDetInputs')")
    test = (f"dict(type='LoadImageFromFile'), {resize}, "
            "dict(type='LoadAnnotations', with_bbox=True), "
            "dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', "
            "'ori_shape', 'img_shape', 'scale_factor'))")
    path = user_config.parent / 'small_run.py'
    path.write_text(f"""_base_ = './{user_config.name}'
model = dict(backbone=dict(init_cfg=None),
             test_cfg=dict(rcnn=dict(score_thr=0.0)))
train_dataloader = {loader.format(train)}
val_dataloader = {loader.format(test)}
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
""")
    return path


@pytest.mark.slow
def test_template_trains_and_tests_on_a_dataset_of_other_classes(tmp_path):
    root = tmp_path / 'data'
    user_dataset(root)
    text = TEMPLATE.read_text()
    for line in EDITED_LINES:
        assert text.count(line) == 1, line
    # A copy outside the repository: the template's base must not be a
    # path relative to configs/.
    user_config = tmp_path / 'configs' / 'faster-rcnn_se-r50_fpn_1x_birds.py'
    user_config.parent.mkdir()
    user_config.write_text(
        text.replace(EDITED_LINES[0], f"data_root = '{root}/'")
        .replace(EDITED_LINES[1], f'classes = {CLASSES!r}'))
    cfg = Config.fromfile(user_config)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].dataset.metainfo.classes == CLASSES
        assert cfg[loader].dataset.type == 'CocoDataset'
    assert cfg.model.roi_head.bbox_head.num_classes == 2
    assert cfg.val_evaluator.ann_file == f'{root}/annotations/instances_val.json'
    assert cfg.model.backbone.type == 'SEResNet'
    assert cfg.model.backbone.init_cfg.checkpoint == (
        'timm://legacy_seresnet50.in1k')

    config = small_run(user_config)
    work = tmp_path / 'work'
    # --auto-scale-lr, as the docs recommend: 0.02 x 2 / 16.
    trained = run(python_tool('train.py', config, '--work-dir', work,
                              '--auto-scale-lr'), tmp_path)
    assert 'Scaling the original LR by 0.125' in trained.stdout + \
        trained.stderr
    run(python_tool('test.py', config, work / 'epoch_1.pth', '--work-dir',
                    work), tmp_path)
    record = metrics(work)
    assert set(record['metrics']) >= {'coco/bbox_mAP', 'coco/bbox_mAP_50'}
    assert all(0 <= record['metrics'][k] <= 1 for k in ('coco/bbox_mAP',
                                                         'coco/bbox_mAP_50'))
    # The checkpoint names the user's classes, which DetInferencer and
    # tools/demo.py then draw.
    meta = load_weights_only(str(work / 'epoch_1.pth'), 'cpu')['meta']
    assert meta['dataset_meta']['classes'] == CLASSES


def test_a_child_of_the_template_sets_what_depends_on_the_classes(tmp_path):
    """docs/own_dataset.md, "Copy the template; do not inherit it": a child
    that sets only data_root and classes keeps the template's; the page's
    child config, which sets what depends on them, gets them through."""
    (tmp_path / TEMPLATE.name).write_text(TEMPLATE.read_text())
    naive = tmp_path / 'naive.py'
    naive.write_text(f"_base_ = './{TEMPLATE.name}'\n"
                     "data_root = 'data/birds/'\nclasses = ('nest', 'egg')\n")
    cfg = Config.fromfile(naive)
    assert cfg.train_dataloader.dataset.metainfo.classes == (
        'balloon', 'kite')
    assert cfg.train_dataloader.dataset.data_root == 'data/own_dataset/'

    (child_text, ) = [
        block for block in python_blocks(REPO / 'docs' / 'own_dataset.md')
        if block.startswith(f"_base_ = './{TEMPLATE.name}'")
    ]
    child = tmp_path / 'child.py'
    child.write_text(child_text)
    cfg = Config.fromfile(child)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].dataset.metainfo.classes == CLASSES
        assert cfg[loader].dataset.data_root == 'data/birds/'
    assert cfg.train_dataloader.dataset.ann_file == (
        'annotations/instances_train.json')
    assert cfg.model.roi_head.bbox_head.num_classes == len(CLASSES)
    for evaluator in ('val_evaluator', 'test_evaluator'):
        assert cfg[evaluator].ann_file == (
            'data/birds/annotations/instances_val.json')


def test_trees_plain_twin_differs_in_the_backbone_type_only():
    differences = config_diff(
        Config.fromfile(TREES / 'faster-rcnn_r18_fpn-lean_8e_neon-trees.py'
                        ).to_dict(),
        Config.fromfile(
            TREES / 'faster-rcnn_se-r18_fpn-lean_8e_neon-trees.py'
        ).to_dict())
    assert differences == [('model.backbone.type', 'ResNet', 'SEResNet')]
