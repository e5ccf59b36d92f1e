"""What ``--help`` of our train and test tools lists: our flags first,
test-only ones for tools/test.py alone, then MMDetection's."""
from pathlib import Path

from senet_mmdet.cli import FLAGS, TEST_FLAGS

from .utils import tool_in_process

REPO = Path(__file__).parents[2]


def test_train_help_lists_only_the_flags_training_takes():
    result = tool_in_process('train.py', '--help', cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert all(flag in result.stdout for flag in FLAGS)
    assert not any(flag in result.stdout for flag in TEST_FLAGS)
    assert '--auto-scale-lr' in result.stdout  # MMDetection's own


def test_test_help_lists_the_test_flags_too():
    result = tool_in_process('test.py', '--help', cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert all(flag in result.stdout for flag in {**FLAGS, **TEST_FLAGS})


def test_train_rejects_a_test_only_flag():
    result = tool_in_process('train.py', 'configs/faster_rcnn_se_r50.py',
                             '--allow-mismatch', cwd=REPO)
    assert result.returncode == 2
    assert 'unrecognized arguments: --allow-mismatch' in result.stderr


def test_demo_help_shows_the_score_threshold_default():
    result = tool_in_process('demo.py', '--help', cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'score (default 0.3)' in ' '.join(result.stdout.split())


def test_tile_coco_help_describes_small_images_in_whole_sentences():
    result = tool_in_process('dataset_converters/tile_coco.py', '--help',
                             cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    text = ' '.join(result.stdout.split())
    assert ('an image no larger than a tile stays whole, so this also splits '
            'a dataset of small images') in text
    assert 'into tiles (and,' not in text


def test_deploy_help_gives_its_whole_first_paragraph_and_every_argument():
    result = tool_in_process('deployment/deploy.py', '--help', cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    text = ' '.join(result.stdout.split())
    assert ('check its detections in onnxruntime against PyTorch.' in text)
    assert 'the MMDetection model config' in text
    assert 'where end2end.onnx and report.json are written' in text


def test_check_install_help_describes_the_check_and_runs_nothing():
    result = tool_in_process('check_install.py', '--help', cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'Check that the installed stack imports' in result.stdout
    assert 'nms and roi_align run' not in result.stdout
