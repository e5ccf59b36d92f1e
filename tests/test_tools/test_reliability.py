"""A killed or diverged run loses nothing; a faulty data set trains or
stops as documented (checkpoints from elsewhere: test_checkpoint_safety.py).

Runs are killed with SIGKILL at chosen moments by ``kill_at.py`` (before a
training iteration, before an evaluation batch, halfway through writing a
checkpoint), as a power cut or the out-of-memory killer would.
"""
import json
import sys
from pathlib import Path

import pytest
import torch

from senet_mmdet.datasets import ToyShapesSpec, make_toy_coco
from .utils import (SPEC, assert_bitwise_equal, failing, python_tool, run,
                    tiny_config, tool_command)

# Every test here trains or tests a detector in a subprocess.
pytestmark = pytest.mark.slow

KILL_AT = Path(__file__).parent / 'kill_at.py'
# Two epochs, evaluated and saved after each, one checkpoint kept: the
# setting in which mmengine lost every checkpoint to a kill.
TWO_EPOCHS = '''default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=1))
train_cfg = dict(max_epochs=2, val_interval=1)
'''


def killed_at(moment: str, nth: int, command: list, cwd: Path) -> str:
    result = run(
        [sys.executable, str(KILL_AT), f'{moment}:{nth}', *command[1:]],
        cwd, returncode=-9)
    return result.stdout + result.stderr


def tensors(path: Path) -> dict:
    checkpoint = torch.load(path, weights_only=True)
    return dict(model=checkpoint['state_dict'],
                optimizer=checkpoint['optimizer']['state'])


def test_runs_killed_at_any_moment_resume_to_the_same_weights(
        toy_root, tmp_path):
    config = tiny_config(tmp_path, toy_root, epochs=2, extra=TWO_EPOCHS)
    reference = tmp_path / 'uninterrupted'
    run(python_tool('train.py', config, '--work-dir', reference), tmp_path)

    work = tmp_path / 'work'
    command = python_tool('train.py', config, '--work-dir', work)
    resume = [*command, '--resume']
    partial = work / 'epoch_1.pth.partial'

    # Killed while writing the first checkpoint: its fragment never takes
    # the checkpoint's name, and resuming starts from scratch.
    killed_at('save', 1, command, tmp_path)
    assert partial.is_file() and not (work / 'epoch_1.pth').exists()
    assert not (work / 'last_checkpoint').exists()

    # Killed during the first evaluation: epoch 1 is saved and named.
    killed_at('evaluation', 1, resume, tmp_path)
    assert not partial.exists()
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_1.pth')

    # Killed before the second iteration of epoch 2.
    log = killed_at('iteration', 2, resume, tmp_path)
    assert 'resumed epoch: 1' in log

    # Killed while writing epoch 2's checkpoint, with one checkpoint kept:
    # epoch 1's stays, and last_checkpoint still names it.
    killed_at('save', 1, resume, tmp_path)
    assert (work / 'epoch_2.pth.partial').is_file()
    assert not (work / 'epoch_2.pth').exists()
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_1.pth')
    torch.load(work / 'epoch_1.pth', weights_only=True)

    result = run(resume, tmp_path)
    assert 'resumed epoch: 1' in result.stdout + result.stderr
    assert sorted(p.name for p in work.glob('*.pth*')) == ['epoch_2.pth']
    assert_bitwise_equal(
        tensors(work / 'epoch_2.pth'), tensors(reference / 'epoch_2.pth'))


# MMDetection's own tools/train.py gets the same stops from the configs'
# runner_type (configs/_base_/safe_runtime.py), as a traceback whose last
# line is the error; CI trains with it in make test-launchers.
TOOLS = ['ours', pytest.param('mmdet', marks=pytest.mark.launchers)]


def stopped(tool: str, command: list, cwd: Path, error_type: str) -> str:
    """The error line of a tool that refused or stopped (rc 1): ours says
    ``error: ...``, MMDetection's ends its traceback with the error."""
    if tool == 'ours':
        result = failing(command, cwd)
        return result.stderr.strip().splitlines()[-1][len('error: '):]
    result = run(command, cwd, returncode=1)
    last = result.stderr.strip().splitlines()[-1]
    assert last.split(': ')[0].endswith(error_type), last
    return last.split(': ', 1)[1]


@pytest.mark.parametrize('tool', TOOLS)
def test_divergence_stops_with_an_error_and_keeps_the_good_checkpoint(
        toy_root, tmp_path, tool):
    # The learning rate jumps a trillionfold at epoch 2.
    blow_up = TWO_EPOCHS + (
        'param_scheduler = [dict(type="MultiStepLR", by_epoch=True, '
        'milestones=[1], gamma=1e12)]\n')
    config = tiny_config(tmp_path, toy_root, epochs=2, extra=blow_up)
    work = tmp_path / 'work'
    error = stopped(
        tool, tool_command(tool, 'train.py', config, '--work-dir', work),
        tmp_path, 'NonFiniteTrainingError')
    assert error.startswith('training stopped at iteration ')
    assert '(epoch 2, batch ' in error
    assert f'the last checkpoint, {work}/epoch_1.pth, is from before it' in (
        error)
    assert sorted(p.name for p in work.glob('*.pth*')) == ['epoch_1.pth']
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_1.pth')
    weights = torch.load(work / 'epoch_1.pth', weights_only=True)
    assert all(
        torch.isfinite(value).all()
        for value in weights['state_dict'].values())


@pytest.mark.parametrize('tool', TOOLS)
def test_a_head_of_another_number_of_classes_is_refused_before_training(
        toy_root, tmp_path, tool):
    config = tiny_config(
        tmp_path, toy_root,
        extra='model = dict(roi_head=dict(bbox_head=dict(num_classes=4)))\n')
    work = tmp_path / 'work'
    error = stopped(
        tool, tool_command(tool, 'train.py', config, '--work-dir', work),
        tmp_path, 'DatasetError')
    assert error.startswith('model.roi_head.bbox_head.num_classes=4, but '
                            'train_dataloader.dataset.metainfo has 3 '
                            'classes')
    assert not list(work.rglob('*.pth'))


def test_faulty_toy_set_trains_or_stops_as_documented(tmp_path):
    """The toy set with a share of each fault: boxes outside, partly
    outside or degenerate train with a counted warning; undecodable images
    stop the run before training with --check-images, and at the first
    broken image without it; empty annotations stop it before training."""
    root = tmp_path / 'toy'
    make_toy_coco(str(root), ToyShapesSpec(**SPEC))
    train_ann = root / 'annotations' / 'instances_train.json'
    coco = json.loads(train_ann.read_text())
    boxes = coco['annotations']
    for ann in boxes[0::10]:
        ann['bbox'][0] = 300
    for ann in boxes[1::10]:
        ann['bbox'][2] = 0
    for ann in boxes[2::10]:
        ann['bbox'][0] = -ann['bbox'][2] // 2
    train_ann.write_text(json.dumps(coco))
    config = tiny_config(tmp_path, root)
    work = tmp_path / 'work'
    train = python_tool('train.py', config, '--work-dir', work)

    result = run(train, tmp_path)
    total = len(boxes)
    kinds = ('outside (ignored in training)',
             'degenerate (width or height < 1 px) (ignored in training)',
             'partly outside (kept unclipped)')
    for start, kind in enumerate(kinds):
        count = len(boxes[start::10])
        assert f'{count} of {total} boxes are {kind}' in result.stderr
    assert (work / 'epoch_1.pth').is_file()

    broken = [root / 'train' / name for name in ('000002.png', '000005.png')]
    for image in broken:
        image.write_bytes(image.read_bytes()[:300])
    result = failing([*train, '--check-images'], tmp_path)
    assert f'2 image(s) do not decode: image id 2: {broken[0]}' in (
        result.stderr)
    assert f'image id 5: {broken[1]}' in result.stderr
    assert 'Epoch(train)' not in result.stdout + result.stderr
    result = run(train, tmp_path, returncode=1)
    assert f'failed to load image: {broken[0]}' in result.stderr or (
        f'failed to load image: {broken[1]}' in result.stderr)

    val_ann = root / 'annotations' / 'instances_val.json'
    coco = json.loads(val_ann.read_text())
    val_ann.write_text(json.dumps(dict(coco, annotations=[])))
    result = failing(train, tmp_path)
    assert f'{val_ann}: "annotations" is empty, so val_dataloader' in (
        result.stderr)
