import pytest
from mmengine.config import Config

from senet_mmdet.datasets import DatasetNotFoundError, check_dataset_files


def coco_like(root, ann='annotations/train.json', img='train/'):
    return dict(
        type='CocoDataset',
        data_root=str(root) + '/',
        ann_file=ann,
        data_prefix=dict(img=img))


def test_all_present_passes(tmp_path):
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'annotations' / 'train.json').write_text('{}')
    (tmp_path / 'train').mkdir()
    cfg = Config(dict(train_dataloader=dict(dataset=coco_like(tmp_path))))
    check_dataset_files(cfg, ('train_dataloader', 'val_dataloader'))


def test_missing_annotation_names_loader_key_and_path(tmp_path):
    cfg = Config(dict(val_dataloader=dict(dataset=coco_like(tmp_path))))
    with pytest.raises(DatasetNotFoundError) as info:
        check_dataset_files(cfg, ('val_dataloader', ))
    assert str(info.value).startswith(
        f'val_dataloader.dataset.ann_file: {tmp_path}/annotations/train.json'
        ' does not exist')


def test_wrapped_datasets_are_checked(tmp_path):
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'annotations' / 'train.json').write_text('{}')
    (tmp_path / 'train').mkdir()
    inner = [coco_like(tmp_path), coco_like(tmp_path, img='extra/')]
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='RepeatDataset',
                    times=2,
                    dataset=dict(type='ConcatDataset', datasets=inner)))))
    with pytest.raises(DatasetNotFoundError, match='data_prefix.img: .*extra'):
        check_dataset_files(cfg, ('train_dataloader', ))
