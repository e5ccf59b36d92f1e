"""tools/dataset_converters/tile_coco.py: the split it writes and prints
for each way of naming the validation images, and what it refuses."""
import json
from pathlib import Path
from typing import Dict, Tuple

import cv2
import numpy as np
import pytest

from ..test_datasets.test_tiling import coco_of
from .utils import REPO, tool_in_process

TILE_COCO = 'dataset_converters/tile_coco.py'


def write_dataset(folder: Path, sizes: Dict[str, Tuple[int, int]]) -> Path:
    """Random images of ``sizes`` in ``folder``, four boxes each, and their
    COCO file ``folder/all.json``; returns the file."""
    rng = np.random.default_rng(1)
    for name, (width, height) in sizes.items():
        cv2.imwrite(str(folder / name),
                    rng.integers(0, 255, (height, width, 3), np.uint8))
    coco = coco_of(sizes, [(name, [x, 20, 30, 30]) for name in sizes
                           for x in (10, 60, 110, 150)])
    ann_file = folder / 'all.json'
    ann_file.write_text(json.dumps(coco))
    return ann_file


def sources(out: Path, split: str) -> set:
    coco = json.loads(
        (out / 'annotations' / f'instances_{split}.json').read_text())
    return {image.get('source', image['file_name'])
            for image in coco['images']}


def test_tile_tool_never_puts_a_validation_source_in_training(tmp_path):
    sizes = {'a.png': (300, 200), 'b.png': (200, 200), 'held.png': (250, 150)}
    ann_file = write_dataset(tmp_path, sizes)
    coco = json.loads(ann_file.read_text())
    out = tmp_path / 'out'
    result = tool_in_process(TILE_COCO, ann_file, tmp_path, out, '--val',
                             'held.png', '--size', '128', cwd=REPO)
    assert result.returncode == 0, result.stderr
    train = json.loads((out / 'annotations/instances_train.json').read_text())
    val = json.loads((out / 'annotations/instances_val.json').read_text())
    assert {i['source'] for i in train['images']} == {'a.png', 'b.png'}
    # The held-out image is copied whole, with its boxes unchanged.
    assert val['images'] == [coco['images'][2]]
    assert val['annotations'] == coco['annotations'][8:]
    assert (out / 'val' / 'held.png').is_file()
    assert len(list((out / 'train').iterdir())) == len(train['images'])
    lines = result.stdout.splitlines()
    assert lines[0] == ("split (--val): 1 of 3 source images for validation "
                        "['held.png']")
    assert lines[1].startswith(
        f'train: {len(train["images"])} tiles of 128 px from '
        "['a.png', 'b.png']: ")
    assert "val: 1 whole images ['held.png']: 4 boxes" in result.stdout
    tiled_val = tool_in_process(TILE_COCO, ann_file, tmp_path,
                                tmp_path / 'out2', '--val', 'held.png',
                                '--size', '128', '--tile-val', cwd=REPO)
    val = json.loads(
        (tmp_path / 'out2/annotations/instances_val.json').read_text())
    assert {i['source'] for i in val['images']} == {'held.png'}
    # Without overlap: two columns (0, 122) and two rows (0, 22).
    assert len(val['images']) == 4, tiled_val.stdout
    refused = tool_in_process(TILE_COCO, ann_file, tmp_path, out, '--val',
                              'nope.png', cwd=REPO)
    assert refused.returncode == 1
    assert "error: validation images ['nope.png'] are not in" in (
        refused.stderr)


def test_a_fraction_and_seed_give_a_printed_reproducible_split(tmp_path):
    sizes = {f'{i}.png': (64, 64) for i in range(6)}
    ann_file = write_dataset(tmp_path, sizes)
    printed = []
    for out in ('one', 'two'):
        result = tool_in_process(TILE_COCO, ann_file, tmp_path,
                                 tmp_path / out, '--val-fraction', '0.34',
                                 '--seed', '3', '--size', '64', cwd=REPO)
        assert result.returncode == 0, result.stderr
        printed.append(result.stdout.splitlines()[0])
    held_out = sources(tmp_path / 'one', 'val')
    assert len(held_out) == 2
    assert sources(tmp_path / 'one', 'train') == set(sizes) - held_out
    assert sources(tmp_path / 'two', 'val') == held_out
    assert printed[0] == printed[1] == (
        'split (--val-fraction 0.34 --seed 3): 2 of 6 source images for '
        f'validation {sorted(held_out)}')


def test_a_list_file_names_the_validation_images_by_stem(tmp_path):
    ann_file = write_dataset(tmp_path, {'a.png': (64, 64), 'b.png': (64, 64),
                                        'c.png': (64, 64)})
    listed = tmp_path / 'held_out.txt'
    listed.write_text('b\nc.png\n')
    out = tmp_path / 'out'
    result = tool_in_process(TILE_COCO, ann_file, tmp_path, out,
                             '--val-list', listed, '--size', '64', cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert sources(out, 'val') == {'b.png', 'c.png'}
    assert sources(out, 'train') == {'a.png'}
    assert result.stdout.startswith(f'split (--val-list {listed}): 2 of 3 ')


def test_voc_image_sets_split_without_an_option(tmp_path):
    """A VOC folder: JPEGImages/ beside ImageSets/Main/{train,val,test}.txt;
    the test images are in neither split."""
    voc = tmp_path / 'VOC2007'
    images = voc / 'JPEGImages'
    images.mkdir(parents=True)
    ann_file = write_dataset(images, {f'00000{i}.png': (64, 64)
                                      for i in range(1, 6)})
    main = voc / 'ImageSets' / 'Main'
    main.mkdir(parents=True)
    (main / 'train.txt').write_text('000001\n000002\n')
    (main / 'val.txt').write_text('000003\n')
    (main / 'test.txt').write_text('000004\n000005\n')
    out = tmp_path / 'out'
    result = tool_in_process(TILE_COCO, ann_file, images, out, '--size', '64',
                             cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert sources(out, 'train') == {'000001.png', '000002.png'}
    assert sources(out, 'val') == {'000003.png'}
    assert result.stdout.splitlines()[0] == (
        f'split ({main / "val.txt"} and {main / "train.txt"}): 1 of 5 source '
        "images for validation ['000003.png'], 2 in neither list left out")
    # Without train.txt every image not in val.txt trains.
    (main / 'train.txt').unlink()
    result = tool_in_process(TILE_COCO, ann_file, images, tmp_path / 'out2',
                             '--size', '64', cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert len(sources(tmp_path / 'out2', 'train')) == 4


@pytest.mark.parametrize('options, message', [
    (['--val-fraction', '1.5'], '--val-fraction 1.5: give a fraction between '
     '0 and 1'),
    (['--val-fraction', '0'], '--val-fraction 0.0: give a fraction between '
     '0 and 1'),
    (['--val', 'a.png', '--val-fraction', '0.5'], 'argument --val-fraction: '
     'not allowed with argument --val'),
    (['--seed', '1', '--val', 'a.png'], '--seed draws the --val-fraction '
     'split; give --val-fraction too'),
    ([], 'name the validation images: --val IMAGE ..., --val-list FILE or '
     '--val-fraction F'),
])
def test_conflicting_or_missing_split_options_are_usage_errors(
        tmp_path, options, message):
    ann_file = write_dataset(tmp_path, {'a.png': (64, 64), 'b.png': (64, 64)})
    result = tool_in_process(TILE_COCO, ann_file, tmp_path, tmp_path / 'out',
                             *options, cwd=REPO)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / 'out').exists()


def test_a_listed_name_that_is_not_an_image_is_an_error(tmp_path):
    ann_file = write_dataset(tmp_path, {'a.png': (64, 64), 'b.png': (64, 64)})
    listed = tmp_path / 'val.txt'
    listed.write_text('b\nnotes\n')
    result = tool_in_process(TILE_COCO, ann_file, tmp_path, tmp_path / 'out',
                             '--val-list', listed, cwd=REPO)
    assert result.returncode == 1
    assert f"error: {listed}: ['notes'] (1 names) are not images of the " \
        'annotation file' in result.stderr
    assert not (tmp_path / 'out').exists()
