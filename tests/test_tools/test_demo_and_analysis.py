"""tools/demo.py and tools/analysis/count_params.py."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from .utils import FASTER, python_blocks, python_tool, run, tool_in_process

REPO = Path(__file__).parents[2]


def run_script(name, *args):
    result = tool_in_process(name, *args, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return result.stdout


# Builds the eight official networks, SENet-154 among them.
@pytest.mark.slow
def test_count_params_table_matches_official_counts():
    rows = {
        line.split(' | ')[0].lstrip('| '): line.split(' | ')
        for line in run_script('analysis/count_params.py').splitlines()[2:]
    }
    assert len(rows) == 8
    for name in ('SE-ResNet-50', 'SE-ResNet-101', 'SE-ResNet-152',
                 'SE-ResNeXt-50 (32x4d)', 'SE-ResNeXt-101 (32x4d)',
                 'SENet-154'):
        # ours with the FC added back == the official count
        assert rows[name][4] == rows[name][5].rstrip(' |'), rows[name]
    assert rows['SE-ResNet-50'][1] == '26.039M'
    assert rows['SE-ResNet-18'][5].startswith('none released')


@pytest.fixture(scope='module')
def blank_with_truth(tmp_path_factory):
    """A plain grey image and a COCO file with one square on it."""
    folder = tmp_path_factory.mktemp('demo')
    image = folder / 'images' / 'grey.png'
    image.parent.mkdir()
    cv2.imwrite(str(image), np.full((128, 160, 3), 128, np.uint8))
    ann_file = folder / 'truth.json'
    ann_file.write_text(json.dumps(dict(
        images=[dict(id=1, file_name='grey.png', height=128, width=160)],
        annotations=[dict(id=1, image_id=1, category_id=7, iscrowd=0,
                          bbox=[20, 30, 60, 50], area=3000)],
        categories=[dict(id=7, name='triangle')])))
    return image, ann_file


@pytest.mark.slow
def test_demo_draws_ground_truth_beside_prediction(trained, blank_with_truth,
                                                   tmp_path):
    config, checkpoint = trained
    image, ann_file = blank_with_truth
    out = tmp_path / 'drawn.png'
    result = run(python_tool('demo.py', image, config, checkpoint, '--out',
                             out, '--gt', ann_file, '--score-thr', '0.99'),
                 tmp_path)
    assert f'{image}: ' in result.stdout and f'-> {out}' in result.stdout
    drawn = cv2.imread(str(out))
    # A caption strip above two 160-wide panels: ground truth | prediction.
    assert drawn.shape[1] == 2 * 160
    caption = drawn.shape[0] - 128
    assert caption > 0
    truth, prediction = drawn[caption:, :160], drawn[caption:, 160:]
    grey = np.array([128, 128, 128])
    # The ground-truth box's edges are drawn on the left panel, over the
    # grey, along its top row (y = 30, x from 20 to 80) ...
    assert (np.abs(truth[30, 25:75].astype(int) - grey).sum(axis=1) > 30
            ).mean() > 0.9
    # ... and the box's inside away from its label stays grey.
    assert np.abs(truth[60:75, 35:75].astype(int) - grey).max() < 10
    # Nothing of a barely trained model scores above 0.99: the right panel
    # is the image as it is.
    assert '0 detections above 0.99' in result.stdout
    assert np.abs(prediction.astype(int) - grey).max() < 10


@pytest.mark.slow
def test_demo_on_a_folder_writes_one_picture_per_image(trained, toy_root,
                                                        tmp_path):
    config, checkpoint = trained
    result = run(python_tool('demo.py', toy_root / 'val', config, checkpoint,
                             '--num', '2', '--out', tmp_path / 'drawn',
                             '--score-thr', '0.0'), tmp_path)
    written = sorted(p.name for p in (tmp_path / 'drawn').iterdir())
    first_two = sorted(p.stem for p in (toy_root / 'val').iterdir())[:2]
    assert written == [f'{stem}.png' for stem in first_two]
    # Without ground truth, the picture is the prediction alone; with a
    # score threshold of 0 every kept box of the config is drawn.
    assert cv2.imread(str(tmp_path / 'drawn' / written[0])).shape[1] == 256
    assert result.stdout.count('detections above 0.0') == 2


@pytest.mark.slow
def test_demo_without_checkpoint_runs_random_weights(trained, tmp_path):
    config, _ = trained
    image = tmp_path / 'grey.png'
    cv2.imwrite(str(image), np.full((96, 96, 3), 128, np.uint8))
    result = run(python_tool('demo.py', image, config, '--out',
                             tmp_path / 'out.png'), tmp_path)
    assert (tmp_path / 'out.png').is_file()
    assert 'detections above 0.3' in result.stdout


def test_demo_names_a_missing_input(tmp_path):
    result = tool_in_process('demo.py', tmp_path / 'nope.png', FASTER,
                             cwd=tmp_path)
    assert result.returncode == 2
    assert f'image {tmp_path}/nope.png does not exist' in result.stderr


@pytest.fixture(scope='module')
def large_image(toy_root, tmp_path_factory):
    """A grey canvas of 384x320 with a toy val image pasted at (128, 64),
    exactly where one of the 256 px windows (overlap 0.5) lies, and a COCO
    file with that image's boxes moved there."""
    folder = tmp_path_factory.mktemp('large')
    coco = json.loads(
        (toy_root / 'annotations' / 'instances_val.json').read_text())
    first = coco['images'][0]
    canvas = np.full((320, 384, 3), 128, np.uint8)
    canvas[64:320, 128:384] = cv2.imread(
        str(toy_root / 'val' / first['file_name']))
    cv2.imwrite(str(folder / 'large.png'), canvas)
    annotations = [
        dict(ann, bbox=[ann['bbox'][0] + 128, ann['bbox'][1] + 64,
                        *ann['bbox'][2:]])
        for ann in coco['annotations'] if ann['image_id'] == first['id']
    ]
    (folder / 'large.json').write_text(json.dumps(dict(
        images=[dict(first, file_name='large.png', width=384, height=320)],
        annotations=annotations, categories=coco['categories'])))
    return folder / 'large.png', folder / 'large.json', toy_root / 'val' / (
        first['file_name'])


def iou(a, b) -> float:
    inter = (max(0, min(a[2], b[2]) - max(a[0], b[0])) *
             max(0, min(a[3], b[3]) - max(a[1], b[1])))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) +
                    (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.slow
def test_sliced_prediction_is_in_whole_image_pixels(trained, large_image):
    """The window at (128, 64) sees exactly the pasted toy image: the
    detector's best box there, shifted by the offset, survives the merge."""
    import mmcv

    import senet_mmdet  # noqa: F401
    from mmdet.apis import DetInferencer
    from senet_mmdet.apis.inference import predict_sliced
    config, checkpoint = trained
    image, _, toy_image = large_image
    inferencer = DetInferencer(model=str(config), weights=str(checkpoint),
                               device='cpu', show_progress=False)
    whole = inferencer(str(toy_image), return_datasamples=True,
                       no_save_vis=True)['predictions'][0].pred_instances
    merged = predict_sliced(inferencer, mmcv.imread(str(image)), 256, 0.5)
    assert merged.metainfo['ori_shape'] == (320, 384)
    boxes = merged.pred_instances.bboxes
    assert len(boxes) > 0
    assert float(boxes[:, 2].max()) <= 384 and float(boxes[:, 3].max()) <= 320
    best = whole.bboxes[whole.scores.argmax()].tolist()
    shifted = [best[0] + 128, best[1] + 64, best[2] + 128, best[3] + 64]
    assert max(iou(shifted, box) for box in boxes.tolist()) > 0.99


@pytest.mark.slow
def test_demo_slices_a_large_image_and_draws_it_beside_truth(
        trained, large_image, tmp_path):
    config, checkpoint = trained
    image, ann_file, _ = large_image
    out = tmp_path / 'large.png'
    # In process: the detector's weights load as in a subprocess, without
    # a second interpreter's 9 s of imports.
    result = tool_in_process('demo.py', image, config, checkpoint, '--slice',
                             '256', '--slice-overlap', '0.5', '--gt',
                             ann_file, '--out', out, '--score-thr', '0.0',
                             cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'-> {out}' in result.stdout
    drawn = cv2.imread(str(out))
    # Ground truth | prediction, each the whole 384 px wide image.
    assert drawn.shape[1] == 2 * 384 and drawn.shape[0] > 320


def test_demo_refuses_a_window_smaller_than_a_tile(tmp_path):
    result = tool_in_process('demo.py', FASTER, FASTER, '--slice', '8',
                             cwd=tmp_path)
    assert result.returncode == 2
    assert '--slice 8: give a window of at least 32 px' in result.stderr


@pytest.mark.slow
def test_inference_page_python_runs_as_written(trained, large_image,
                                               tmp_path, monkeypatch):
    """docs/inference.md's DetInferencer and sliced snippets, run with the
    toy checkpoint in place of the trees one."""
    config, checkpoint = trained
    image, _, _ = large_image
    trees = 'configs/trees/faster-rcnn_se-r18_fpn-lean_8e_neon-trees.py'
    held_out = ('data/neon_trees/val/'
                '2019_YELL_2_541000_4977000_image_crop.png')
    blocks = python_blocks(REPO / 'docs' / 'inference.md')
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    names = {}
    for block in blocks:
        for old, new in ((trees, str(config)),
                         ('work_dirs/trees/epoch_8.pth', str(checkpoint)),
                         (held_out, str(image))):
            block = block.replace(old, new)
        exec(compile(block, 'docs/inference.md', 'exec'), names)
    # The first block writes the drawn picture and returns boxes in pixels;
    # the second merges windows into one sample of the whole image.
    assert (tmp_path / 'outputs' / 'vis' / 'large.png').is_file()
    assert len(names['boxes']) == len(names['scores'])
    # pred_score_thr drew only the boxes above 0.5; 'predictions' keeps the
    # rest (this checkpoint scores all below 0.5), which the page's filter
    # drops.
    scores = names['prediction']['scores']
    assert scores and max(scores) <= 0.5
    assert names['kept'] == names['labels'] == []
    assert names['sample'].metainfo['ori_shape'] == (320, 384)
