"""Checkpoints from elsewhere: one that does not fit the model or holds
NaN is refused by tools/test.py, one that would run code when unpickled is
refused on every loading path, and the tools' own checkpoints load
weights-only in MMDetection's APIs and tools."""
import json
import sys
from pathlib import Path

import pytest
import torch

import mmdet
from mmdet.apis import DetInferencer, init_detector
from ..test_engine.utils import save_code_running_checkpoint
from .utils import (FASTER_PLAIN, failing, failing_in_process, python_tool,
                    run, tiny_config)

# Every test here reads the checkpoint that the `trained` fixture trains.
pytestmark = pytest.mark.slow


def test_test_refuses_unfit_and_nonfinite_checkpoints(
        trained, toy_root, tmp_path):
    config, checkpoint = trained
    work = tmp_path / 'work'
    plain = tiny_config(tmp_path, toy_root, base=FASTER_PLAIN)
    result = failing_in_process('test.py', plain, checkpoint, '--work-dir',
                                work, cwd=tmp_path)
    assert 'does not fit the config\'s model' in result.stderr
    assert 'tensors have no place in the model (backbone.layer1.0.se.' in (
        result.stderr)
    assert '--allow-mismatch' in result.stderr

    diverged = tmp_path / 'diverged.pth'
    weights = torch.load(checkpoint, weights_only=True)
    weights['state_dict']['backbone.conv1.weight'][0] = float('nan')
    torch.save(weights, diverged)
    result = failing_in_process('test.py', config, diverged, '--work-dir',
                                work, cwd=tmp_path)
    assert ('1 tensors hold NaN or infinity (backbone.conv1.weight)'
            in result.stderr)
    assert not (work / 'test_metrics.json').exists()

    run(python_tool('test.py', plain, checkpoint, '--work-dir', work,
                    '--allow-mismatch'), tmp_path)
    assert 'coco/bbox_mAP' in json.loads(
        (work / 'test_metrics.json').read_text())['metrics']


def test_code_in_a_checkpoint_runs_nowhere(trained, tmp_path):
    config, checkpoint = trained
    marker = tmp_path / 'code_ran'
    # Inside the work dir, which the tools once trusted wholesale.
    tampered = tmp_path / 'work' / 'tampered.pth'
    tampered.parent.mkdir()
    save_code_running_checkpoint(
        tampered, marker,
        torch.load(checkpoint, weights_only=True)['state_dict'])
    # The converter and test.py refuse it before any Runner exists: in
    # this process; loading it for training happens in the Runner.
    refusals = [
        failing_in_process('model_converters/senet2mmdet.py', tampered,
                           tmp_path / 'out.pth', cwd=tmp_path),
        failing_in_process('test.py', config, tampered, cwd=tmp_path),
    ]
    for command in (
            python_tool('train.py', config, '--work-dir', tmp_path / 'work',
                        '--resume', tampered),
            python_tool('train.py', config, '--work-dir', tmp_path / 'work',
                        '--cfg-options', f'load_from={tampered}'),
            # As README's command line sets it, on a config whose
            # init_cfg is None.
            python_tool('train.py', config, '--work-dir', tmp_path / 'work',
                        '--cfg-options',
                        'model.backbone.init_cfg.type=Pretrained',
                        f'model.backbone.init_cfg.checkpoint={tampered}')):
        refusals.append(failing(command, tmp_path))
    for result in refusals:
        assert f'{tampered} holds Python objects' in result.stderr, result.args
        assert '--unsafe-load' in result.stderr
    assert not marker.exists()


def test_training_checkpoints_load_weights_only_in_mmdet(
        trained, toy_root, tmp_path):
    config, checkpoint = trained
    torch.load(checkpoint, weights_only=True)
    model = init_detector(str(config), str(checkpoint), device='cpu')
    assert model.dataset_meta['classes'] == ('rectangle', 'ellipse',
                                             'triangle')
    inferencer = DetInferencer(
        model=str(config), weights=str(checkpoint), device='cpu',
        show_progress=False)
    image = next((toy_root / 'val').glob('*.png'))
    assert len(inferencer(str(image))['predictions']) == 1
    # MMDetection's own train.py resumes from it for a second epoch.
    stock = Path(mmdet.__file__).parent / '.mim' / 'tools' / 'train.py'
    longer = tmp_path / 'longer.py'
    longer.write_text(f"_base_ = '{config}'\n"
                      'train_cfg = dict(max_epochs=2, val_interval=2)\n')
    result = run([
        sys.executable,
        str(stock),
        str(longer), '--work-dir',
        str(tmp_path / 'work'), '--resume',
        str(checkpoint)
    ], tmp_path)
    assert 'resumed epoch: 1' in result.stdout + result.stderr
    assert (tmp_path / 'work' / 'epoch_2.pth').is_file()
