"""senet_mmdet/datasets/converters.py and
tools/dataset_converters/to_coco.py: VOC XML, CSV and YOLO to COCO, and
what each does with bad input."""
import json
import warnings

import cv2
import numpy as np
import pytest

from senet_mmdet.datasets import (DatasetError, DatasetWarning, read_csv,
                                  read_voc, read_voc_folder, read_yolo,
                                  relabel, to_coco)
from ..test_tools.utils import REPO, tool_in_process

OBJECT = """<object><name>{name}</name>{extra}<bndbox><xmin>{x1}</xmin>
<ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"""


def voc(name='a.png', size=(60, 40), objects=(), header=''):
    """A VOC XML text; ``size`` None leaves out <size>."""
    size_tag = ('' if size is None else
                f'<size><width>{size[0]}</width><height>{size[1]}</height>'
                '<depth>3</depth></size>')
    return (f'<annotation><filename>{name}</filename>{header}{size_tag}' +
            ''.join(OBJECT.format(**dict(dict(extra='', name='cat'), **o))
                    for o in objects) + '</annotation>')


def write_image(path, width=60, height=40):
    cv2.imwrite(str(path), np.zeros((height, width, 3), np.uint8))


def test_voc_boxes_classes_and_difficult(tmp_path):
    (tmp_path / 'a.xml').write_text(voc(objects=[
        dict(x1=1, y1=2, x2=11, y2=22, extra='<pose>Left</pose>'
             '<truncated>0</truncated><difficult>0</difficult>'),
        dict(name='dog', x1=5.5, y1=6, x2=20, y2=30,
             extra='<difficult>1</difficult>'),
    ]))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        image = read_voc(str(tmp_path / 'a.xml'))
    assert (image.file_name, image.width, image.height) == ('a.png', 60, 40)
    coco = to_coco([image], classes=['dog', 'cat'])
    assert coco['categories'] == [dict(id=1, name='dog'),
                                  dict(id=2, name='cat')]
    assert coco['images'] == [dict(id=1, file_name='a.png', width=60,
                                   height=40)]
    first, second = coco['annotations']
    assert first == dict(id=1, image_id=1, category_id=2, bbox=[1, 2, 10, 20],
                         area=200, iscrowd=0)
    # difficult objects are kept as ignored regions, as MMDetection's VOC
    # dataset ignores them.
    assert (second['category_id'], second['bbox'], second['iscrowd']) == (
        1, [5.5, 6, 14.5, 24], 1)


def test_voc_missing_optional_tags_take_defaults(tmp_path):
    """No <size>, no pose/truncated/difficult: the size comes from the image
    (with a warning), the flags are 0."""
    write_image(tmp_path / 'a.png', 60, 40)
    (tmp_path / 'a.xml').write_text(
        voc(size=None, objects=[dict(x1=1, y1=2, x2=11, y2=22)]))
    with pytest.warns(DatasetWarning) as record:
        image = read_voc(str(tmp_path / 'a.xml'))
    assert len(record) == 1
    assert str(record[0].message).startswith(
        f'{tmp_path}/a.xml: <size> is missing, empty or 0; read 60x40 from '
        f'{tmp_path}/a.png')
    assert (image.width, image.height) == (60, 40)
    assert not image.boxes[0].ignore


def test_voc_empty_optional_tags_warn_naming_object_and_tag(tmp_path):
    (tmp_path / 'a.xml').write_text(voc(objects=[
        dict(x1=1, y1=2, x2=11, y2=22, extra='<difficult></difficult>'),
        dict(x1=1, y1=2, x2=11, y2=22, extra='<truncated> </truncated>'),
    ]))
    with pytest.warns(DatasetWarning) as record:
        image = read_voc(str(tmp_path / 'a.xml'))
    assert str(record[0].message) == (
        f'{tmp_path}/a.xml: empty optional tags read as 0: object 0 '
        '<difficult>; object 1 <truncated> (write 0 or 1, or leave the tag '
        'out)')
    assert [box.ignore for box in image.boxes] == [False, False]


@pytest.mark.parametrize('xml, message', [
    (voc(name=''), '<filename> is missing or empty; add the image'),
    (voc(objects=[dict(name='', x1=1, y1=1, x2=5, y2=5)]),
     'object 0: <name> is missing or empty'),
    (voc(objects=[dict(x1=1, y1=1, x2=5, y2=5),
                  dict(x1='', y1=1, x2=5, y2=5)]),
     "object 1 (cat): <xmin> is '', not a number; fix or remove the entry"),
    (voc().replace('</annotation>', '<object><name>cat</name></object>'
                   '</annotation>'),
     'object 0 (cat): <bndbox> is missing; add its xmin'),
    ('<annotation><filename>', 'not valid XML'),
])
def test_voc_required_fields_are_errors_naming_file_and_object(
        tmp_path, xml, message):
    (tmp_path / 'a.xml').write_text(xml)
    with pytest.raises(DatasetError) as info:
        read_voc(str(tmp_path / 'a.xml'))
    assert str(info.value).startswith(f'{tmp_path}/a.xml: ')
    assert message in str(info.value)


def test_voc_folder_without_xml_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match='no .xml file in this folder'):
        read_voc_folder(str(tmp_path))


def test_csv_as_deepforest_writes_it(tmp_path):
    write_image(tmp_path / 'a.png', 60, 40)
    write_image(tmp_path / 'b.png', 30, 20)
    (tmp_path / 'boxes.csv').write_text(
        'image_path,xmin,ymin,xmax,ymax,label\n'
        'a.png,1,2,11,22,Alive\n'
        'a.png,20,2,30,12,Dead\n'
        'b.png,0,0,0,0,Tree\n')
    images = read_csv(str(tmp_path / 'boxes.csv'))
    relabel(images, {'Alive': 'Tree', 'Dead': 'Tree'})
    coco = to_coco(images)
    assert coco['categories'] == [dict(id=1, name='Tree')]
    assert [(i['file_name'], i['width'], i['height'])
            for i in coco['images']] == [('a.png', 60, 40), ('b.png', 30, 20)]
    # The all-zero row lists b.png as an image without trees.
    assert [a['image_id'] for a in coco['annotations']] == [1, 1]
    assert coco['annotations'][1]['bbox'] == [20, 2, 10, 10]


@pytest.mark.parametrize('text, message', [
    ('image,xmin,ymin,xmax,ymax,label\n', "columns ['image_path'] are "
     'missing'),
    ('image_path,xmin,ymin,xmax,ymax,label\na.png,1,2,x,4,cat\n',
     "line 2: xmax is 'x', not a number"),
    ('image_path,xmin,ymin,xmax,ymax,label\na.png,1,2,3,4,\n',
     'line 2: label is empty'),
    ('image_path,xmin,ymin,xmax,ymax,label\nnope.png,1,2,3,4,cat\n',
     'nope.png: image file not found'),
])
def test_csv_bad_rows_are_errors_naming_file_and_line(tmp_path, text,
                                                      message):
    write_image(tmp_path / 'a.png')
    (tmp_path / 'boxes.csv').write_text(text)
    with pytest.raises(DatasetError) as info:
        read_csv(str(tmp_path / 'boxes.csv'))
    assert message in str(info.value)


def test_yolo_normalised_boxes_become_pixels(tmp_path):
    (tmp_path / 'images').mkdir()
    (tmp_path / 'labels').mkdir()
    write_image(tmp_path / 'images' / 'a.jpg', 100, 50)
    write_image(tmp_path / 'images' / 'b.jpg', 100, 50)
    (tmp_path / 'labels' / 'a.txt').write_text('1 0.5 0.5 0.2 0.4\n\n')
    images = read_yolo(str(tmp_path / 'labels'), str(tmp_path / 'images'),
                       ['cat', 'dog'])
    coco = to_coco(images, ['cat', 'dog'])
    (ann, ) = coco['annotations']
    assert ann['category_id'] == 2
    assert ann['bbox'] == pytest.approx([40, 15, 20, 20])
    # b.jpg has no label file: an image without objects.
    assert len(coco['images']) == 2


def test_yolo_pixels_are_rounded_and_label_files_closed(tmp_path):
    (tmp_path / 'images').mkdir()
    (tmp_path / 'labels').mkdir()
    write_image(tmp_path / 'images' / 'a.png', 640, 480)
    # In floats (0.35 + 0.1 / 2) * 640 is 255.99999999999997 and
    # (0.3 - 0.2 / 2) * 480 is 95.99999999999999.
    (tmp_path / 'labels' / 'a.txt').write_text('0 0.35 0.3 0.1 0.2\n')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', ResourceWarning)
        images = read_yolo(str(tmp_path / 'labels'),
                           str(tmp_path / 'images'), ['cat'])
    assert not [w for w in caught if w.category is ResourceWarning]
    (ann, ) = to_coco(images, ['cat'])['annotations']
    assert ann['bbox'] == [192.0, 96.0, 64.0, 96.0]
    assert ann['area'] == 6144.0


@pytest.mark.parametrize('line, message', [
    ('2 0.5 0.5 0.2 0.2', 'class index 2 is not one of the 2 classes'),
    ('0 0.5 0.5 0.2', "has 4 fields, not 5"),
])
def test_yolo_bad_lines_are_errors_naming_file_and_line(tmp_path, line,
                                                        message):
    write_image(tmp_path / 'a.png')
    (tmp_path / 'a.txt').write_text(line)
    with pytest.raises(DatasetError) as info:
        read_yolo(str(tmp_path), str(tmp_path), ['cat', 'dog'])
    assert str(info.value).startswith(f'{tmp_path}/a.txt: line 1: ')
    assert message in str(info.value)


def test_boxes_outside_are_clipped_and_empty_ones_dropped_with_warnings(
        tmp_path):
    (tmp_path / 'a.xml').write_text(voc(size=(60, 40), objects=[
        dict(x1=-5, y1=2, x2=11, y2=50),
        dict(x1=5, y1=5, x2=5, y2=20),
        dict(x1=70, y1=5, x2=80, y2=20),
        dict(x1=1, y1=1, x2=9, y2=9),
    ]))
    with pytest.warns(DatasetWarning) as record:
        coco = to_coco([read_voc(str(tmp_path / 'a.xml'))])
    clipped, dropped = map(str, (w.message for w in record))
    assert clipped == ('1 box(es) reach outside their image and were '
                       f'clipped to it: {tmp_path}/a.xml: object 0 (-5.0, '
                       '2.0, 11.0, 50.0) in 60x40')
    assert dropped.startswith('2 box(es) have no area')
    assert f'{tmp_path}/a.xml: object 1 (5.0, 5.0, 5.0, 20.0)' in dropped
    assert 'object 2 (70.0' in dropped
    assert [a['bbox'] for a in coco['annotations']] == [[0, 2, 11, 38],
                                                        [1, 1, 8, 8]]


def test_labels_outside_the_classes_are_errors_naming_the_fix(tmp_path):
    (tmp_path / 'a.xml').write_text(
        voc(objects=[dict(name='Dead', x1=1, y1=1, x2=9, y2=9)]))
    with pytest.raises(DatasetError) as info:
        to_coco([read_voc(str(tmp_path / 'a.xml'))], ['Tree'])
    assert str(info.value) == (
        "1 box(es) have labels that are not among the classes ['Tree']: "
        f"{tmp_path}/a.xml: object 0 'Dead'; add the labels to the classes "
        'or map them onto one (--map NAME=CLASS)')


def test_to_coco_tool_converts_and_refuses(tmp_path):
    (tmp_path / 'xml').mkdir()
    for name, label in (('a', 'Alive'), ('b', 'Dead')):
        (tmp_path / 'xml' / f'{name}.xml').write_text(voc(
            name=f'{name}.png',
            objects=[dict(name=label, x1=1, y1=1, x2=9, y2=9)]))
    out = tmp_path / 'coco.json'
    result = tool_in_process('dataset_converters/to_coco.py', 'voc',
                             tmp_path / 'xml', '--classes', 'Tree', '--map',
                             'Alive=Tree', 'Dead=Tree', '--out', out,
                             cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{out}: 2 images, 2 boxes {{'Tree': 2}}\n"
    coco = json.loads(out.read_text())
    assert {a['category_id'] for a in coco['annotations']} == {1}
    refused = tool_in_process('dataset_converters/to_coco.py', 'voc',
                              tmp_path / 'xml', '--classes', 'Tree', '--out',
                              out, cwd=REPO)
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        'error: 2 box(es) have labels that are not among the classes')
    usage = tool_in_process('dataset_converters/to_coco.py', 'yolo',
                            tmp_path / 'xml', '--out', out, cwd=REPO)
    assert usage.returncode == 2
    assert 'yolo labels need --image-dir and --classes' in usage.stderr
