"""senet_mmdet/datasets/tiling.py: the window grid, the rule for cut boxes,
the split by source image and the ways to choose it (tools/dataset_converters/
tile_coco.py: tests/test_tools/test_tile_coco.py)."""
import cv2
import numpy as np
import pytest

from senet_mmdet.datasets import (DatasetError, TileRule, cut_box,
                                  draw_val_images, file_names_of,
                                  read_image_list, split_by_source, tile_coco,
                                  tile_windows, voc_image_sets)


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


def test_split_with_a_training_list_leaves_other_images_out():
    coco = coco_of({'a.png': (10, 10), 'b.png': (10, 10), 'c.png': (10, 10)},
                   [('a.png', [1, 1, 2, 2]), ('c.png', [1, 1, 3, 3])])
    train, val = split_by_source(coco, ['c.png'], ['a.png'])
    assert [i['file_name'] for i in train['images']] == ['a.png']
    assert [i['file_name'] for i in val['images']] == ['c.png']
    with pytest.raises(DatasetError, match=r"\['a.png'\] are listed for "
                       'both training and validation'):
        split_by_source(coco, ['a.png'], ['a.png', 'b.png'])
    with pytest.raises(DatasetError, match=r"training images \['z.png'\]"):
        split_by_source(coco, ['a.png'], ['z.png'])


def test_a_fraction_draws_whole_source_images_the_same_way_for_a_seed():
    coco = coco_of({f'{i:02d}.png': (10, 10) for i in range(10)}, [])
    first = draw_val_images(coco, 0.3, seed=0)
    assert len(first) == 3 and first == sorted(first)
    assert draw_val_images(coco, 0.3, seed=0) == first
    # The draw depends on the images, not on their order in the file.
    coco['images'].reverse()
    assert draw_val_images(coco, 0.3, seed=0) == first
    others = {tuple(draw_val_images(coco, 0.3, seed)) for seed in range(1, 6)}
    assert others - {tuple(first)}
    # At least one image each way.
    assert len(draw_val_images(coco, 0.01, seed=0)) == 1
    assert len(draw_val_images(coco, 0.99, seed=0)) == 9


@pytest.mark.parametrize('fraction', [0, 1, 1.5, -0.2])
def test_a_fraction_outside_0_1_is_an_error(fraction):
    coco = coco_of({'a.png': (10, 10), 'b.png': (10, 10)}, [])
    with pytest.raises(DatasetError, match=f'validation fraction {fraction}: '
                       'give a fraction between 0 and 1'):
        draw_val_images(coco, fraction, seed=0)


def test_one_image_cannot_be_split():
    coco = coco_of({'a.png': (10, 10)}, [])
    with pytest.raises(DatasetError, match='lists 1 image; a split needs'):
        draw_val_images(coco, 0.5, seed=0)


def test_a_list_names_images_by_file_name_or_stem(tmp_path):
    listed = tmp_path / 'val.txt'
    listed.write_text('# held out\n000005\n\n  sub/000007.jpg \n')
    assert read_image_list(str(listed)) == ['000005', 'sub/000007.jpg']
    coco = coco_of({'sub/000005.jpg': (10, 10), 'sub/000007.jpg': (10, 10),
                    'sub/000009.jpg': (10, 10)}, [])
    assert file_names_of(coco, read_image_list(str(listed)), 'val.txt') == [
        'sub/000005.jpg', 'sub/000007.jpg']
    with pytest.raises(DatasetError, match=r"val.txt: \['000006'\] \(1 "
                       'names\\) are not images of the annotation file'):
        file_names_of(coco, ['000005', '000006'], 'val.txt')


def test_a_list_file_that_is_missing_empty_or_per_class_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match='no such list file'):
        read_image_list(str(tmp_path / 'absent.txt'))
    empty = tmp_path / 'empty.txt'
    empty.write_text('\n# nothing\n')
    with pytest.raises(DatasetError, match='lists no image'):
        read_image_list(str(empty))
    # VOC's per-class lists carry a 1 / -1 after each name.
    per_class = tmp_path / 'cat_val.txt'
    per_class.write_text('000005 -1\n000007  1\n')
    with pytest.raises(DatasetError, match='more than one name .* such as '
                       'ImageSets/Main/val.txt'):
        read_image_list(str(per_class))


def test_voc_image_sets_are_found_beside_the_image_folder(tmp_path):
    images = tmp_path / 'VOC2007' / 'JPEGImages'
    images.mkdir(parents=True)
    assert voc_image_sets(str(images)) == {}
    main = tmp_path / 'VOC2007' / 'ImageSets' / 'Main'
    main.mkdir(parents=True)
    (main / 'val.txt').write_text('000005\n')
    (main / 'test.txt').write_text('000009\n')
    assert voc_image_sets(str(images)) == {'val': str(main / 'val.txt')}
    (main / 'train.txt').write_text('000007\n')
    assert voc_image_sets(str(images) + '/') == {
        'train': str(main / 'train.txt'), 'val': str(main / 'val.txt')}


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
