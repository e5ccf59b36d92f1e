"""senet_mmdet/datasets/tiling.py and tools/dataset_converters/tile_coco.py:
the window grid, the rule for cut boxes, the split by source image."""
import json

import cv2
import numpy as np
import pytest

from senet_mmdet.datasets import (DatasetError, TileRule, cut_box,
                                  split_by_source, tile_coco, tile_windows)
from ..test_tools.utils import REPO, tool_in_process


def test_windows_cover_the_image_with_the_overlap_and_fit_inside():
    windows = tile_windows(300, 200, 128, 0.5)
    xs = sorted({w[0] for w in windows})
    ys = sorted({w[1] for w in windows})
    # Steps of 64 px; the last window moved back inside the image.
    assert xs == [0, 64, 128, 172] and ys == [0, 64, 72]
    assert all(x2 - x1 == 128 and y2 - y1 == 128
               for x1, y1, x2, y2 in windows)
    covered = np.zeros((200, 300), bool)
    for x1, y1, x2, y2 in windows:
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    # An image smaller than a tile is one window of its own size.
    assert tile_windows(100, 50, 128, 0.5) == [(0, 0, 100, 50)]
    with pytest.raises(ValueError, match='overlap=1'):
        tile_windows(300, 200, 128, 1)


@pytest.mark.parametrize('bbox, expected', [
    # wholly inside: kept, moved to the window's coordinates
    ([110, 120, 20, 30], ([10, 20, 20, 30], True)),
    # half inside, sides 10 x 20 >= 8: kept, clipped
    ([90, 120, 20, 20], ([0, 20, 10, 20], True)),
    # a third inside: an ignored region
    ([80, 120, 30, 20], ([0, 20, 10, 20], False)),
    # half inside but a 6 px sliver: an ignored region
    ([94, 120, 12, 40], ([0, 20, 6, 40], False)),
    # outside
    ([0, 0, 50, 50], ([], False)),
])
def test_cut_boxes_follow_the_rule(bbox, expected):
    rule = TileRule(min_visible=0.5, min_side=8)
    assert cut_box(bbox, (100, 100, 200, 200), rule) == expected


def test_rule_refuses_meaningless_thresholds():
    with pytest.raises(ValueError, match='min_visible=0'):
        TileRule(min_visible=0)
    with pytest.raises(ValueError, match='min_side=0.5'):
        TileRule(min_side=0.5)


def coco_of(sizes, boxes):
    """Images ``name -> (width, height)``, boxes ``(name, [x, y, w, h])``."""
    names = list(sizes)
    return dict(
        images=[dict(id=i + 1, file_name=n, width=sizes[n][0],
                     height=sizes[n][1]) for i, n in enumerate(names)],
        annotations=[dict(id=i + 1, image_id=names.index(n) + 1,
                          category_id=3, bbox=b, area=b[2] * b[3],
                          iscrowd=0) for i, (n, b) in enumerate(boxes)],
        categories=[dict(id=3, name='crown')])


def test_split_keeps_each_source_whole_and_names_unknown_images():
    coco = coco_of({'a.png': (10, 10), 'b.png': (10, 10), 'c.png': (10, 10)},
                   [('a.png', [1, 1, 2, 2]), ('c.png', [1, 1, 3, 3])])
    train, val = split_by_source(coco, ['c.png'])
    assert [i['file_name'] for i in train['images']] == ['a.png', 'b.png']
    assert [a['bbox'] for a in val['annotations']] == [[1, 1, 3, 3]]
    assert train['categories'] == val['categories'] == coco['categories']
    with pytest.raises(DatasetError, match=r"\['d.png'\] are not in the "):
        split_by_source(coco, ['d.png'])
    with pytest.raises(DatasetError, match='leave at least one source'):
        split_by_source(coco, ['a.png', 'b.png', 'c.png'])


def test_tiles_hold_the_pixels_under_their_boxes(tmp_path):
    """A random image cut into tiles: each tile is the image's pixels at its
    offset, and each kept box covers the same pixels as its source box."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (200, 300, 3), np.uint8)
    cv2.imwrite(str(tmp_path / 'big.png'), pixels)
    coco = coco_of({'big.png': (300, 200)}, [
        ('big.png', [10, 10, 30, 30]),    # in the first tiles only
        ('big.png', [120, 60, 20, 20]),   # in several overlapping tiles
        ('big.png', [296, 150, 4, 40]),   # too thin anywhere: ignored
    ])
    tiled, counts = tile_coco(coco, str(tmp_path), str(tmp_path / 'tiles'),
                              128, 0.5, TileRule(0.5, 8))
    assert counts['tiles'] == len(tiled['images']) > 1
    assert counts['tiles'] + counts['empty'] == 4 * 3
    assert tiled['categories'] == coco['categories']
    for image in tiled['images']:
        x, y = image['offset']
        tile = cv2.imread(str(tmp_path / 'tiles' / image['file_name']))
        assert image['source'] == 'big.png'
        assert np.array_equal(tile, pixels[y:y + 128, x:x + 128])
    kept = [a for a in tiled['annotations'] if not a['iscrowd']]
    assert len(kept) == counts['kept']
    assert counts['ignored'] == len(tiled['annotations']) - len(kept) > 0
    for ann in tiled['annotations']:
        image = tiled['images'][ann['image_id'] - 1]
        bx, by, bw, bh = ann['bbox']
        assert 0 <= bx and bx + bw <= 128 and 0 <= by and by + bh <= 128
        if not ann['iscrowd']:
            assert min(bw, bh) >= 8
    # The first box, whole in the tile at (0, 0), keeps its coordinates.
    first = [a['bbox'] for a in tiled['annotations'] if a['image_id'] == 1]
    assert [10, 10, 30, 30] in first


def test_tile_tool_never_puts_a_validation_source_in_training(tmp_path):
    rng = np.random.default_rng(1)
    sizes = {'a.png': (300, 200), 'b.png': (200, 200), 'held.png': (250, 150)}
    for name, (width, height) in sizes.items():
        cv2.imwrite(str(tmp_path / name),
                    rng.integers(0, 255, (height, width, 3), np.uint8))
    coco = coco_of(sizes, [(name, [x, 20, 30, 30]) for name in sizes
                           for x in (10, 60, 110, 150)])
    (tmp_path / 'all.json').write_text(json.dumps(coco))
    out = tmp_path / 'out'
    result = tool_in_process('dataset_converters/tile_coco.py',
                             tmp_path / 'all.json', tmp_path, out, '--val',
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
    assert result.stdout.startswith(
        f'train: {len(train["images"])} tiles of 128 px from '
        "['a.png', 'b.png']: ")
    assert "val: 1 whole images ['held.png']: 4 boxes" in result.stdout
    tiled_val = tool_in_process('dataset_converters/tile_coco.py',
                                tmp_path / 'all.json', tmp_path,
                                tmp_path / 'out2', '--val', 'held.png',
                                '--size', '128', '--tile-val', cwd=REPO)
    val = json.loads(
        (tmp_path / 'out2/annotations/instances_val.json').read_text())
    assert {i['source'] for i in val['images']} == {'held.png'}
    # Without overlap: two columns (0, 122) and two rows (0, 22).
    assert len(val['images']) == 4, tiled_val.stdout
    refused = tool_in_process('dataset_converters/tile_coco.py',
                              tmp_path / 'all.json', tmp_path, out, '--val',
                              'nope.png', cwd=REPO)
    assert refused.returncode == 1
    assert "error: validation images ['nope.png'] are not in" in (
        refused.stderr)
