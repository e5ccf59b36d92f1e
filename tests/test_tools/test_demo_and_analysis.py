"""tools/demo.py and tools/analysis/count_params.py."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from .utils import FASTER, python_tool, run, tool_in_process

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
