"""tools/train.py and tools/test.py: MMDetection's flags, clear data and
weight errors."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import timm

from .utils import tiny_config, tool_in_process

REPO = Path(__file__).parents[2]
FLAGSHIP = str(REPO / 'configs' / 'faster_rcnn_se_r50.py')


def run_tool(args, cwd):
    """``python tools/TOOL ARGS``, in this process: every run here ends
    before training (tool_in_process)."""
    return tool_in_process(Path(args[0]).name, *args[1:], cwd=cwd)


@pytest.mark.parametrize('tool, flags', [
    ('train', ('--work-dir', '--cfg-options', '--resume', '--amp',
               '--auto-scale-lr', '--launcher')),
    ('test', ('--work-dir', '--cfg-options', '--out', '--show-dir', '--tta',
              '--launcher')),
])
def test_tool_has_mmdet_flags(tool, flags, tmp_path):
    result = run_tool([str(REPO / 'tools' / f'{tool}.py'), '--help'],
                      tmp_path)
    assert result.returncode == 0, result.stderr
    for flag in flags:
        assert flag in result.stdout


def test_train_without_coco_says_where_and_how(tmp_path):
    result = run_tool(
        [str(REPO / 'tools' / 'train.py'), FLAGSHIP, '--work-dir',
         str(tmp_path / 'work')], tmp_path)
    assert result.returncode == 1
    message = result.stderr
    assert ('train_dataloader.dataset.data_root: data/coco/ does not '
            'exist') in message
    assert 'https://cocodataset.org/#download' in message
    assert '--cfg-options train_dataloader.dataset.data_root=' in message
    assert 'Traceback' not in message
    assert not (tmp_path / 'work').exists()


def test_train_names_the_data_root_given_on_the_command_line(tmp_path):
    (tmp_path / 'coco' / 'annotations').mkdir(parents=True)
    annotations = tmp_path / 'coco' / 'annotations'
    (annotations / 'instances_train2017.json').write_text('{}')
    result = run_tool([
        str(REPO / 'tools' / 'train.py'), FLAGSHIP, '--cfg-options',
        f'train_dataloader.dataset.data_root={tmp_path}/coco/'
    ], tmp_path)
    assert result.returncode == 1
    # The annotations exist now; the image folder is the next thing missing.
    assert (f'train_dataloader.dataset.data_prefix.img: {tmp_path}/coco/'
            'train2017/ does not exist') in result.stderr


def test_test_without_checkpoint_or_data(tmp_path):
    result = run_tool([
        str(REPO / 'tools' / 'test.py'), FLAGSHIP,
        str(tmp_path / 'missing.pth')
    ], tmp_path)
    assert result.returncode == 1
    assert f'checkpoint {tmp_path}/missing.pth does not exist' in (
        result.stderr)

    checkpoint = tmp_path / 'epoch_12.pth'
    checkpoint.write_bytes(b'')
    result = run_tool(
        [str(REPO / 'tools' / 'test.py'), FLAGSHIP,
         str(checkpoint)], tmp_path)
    assert result.returncode == 1
    assert ('test_dataloader.dataset.data_root: data/coco/ does not '
            'exist') in result.stderr


def test_train_with_missing_config(tmp_path):
    result = run_tool(
        [str(REPO / 'tools' / 'train.py'), 'configs/nope.py'], tmp_path)
    assert result.returncode == 1
    assert 'config file configs/nope.py does not exist' in result.stderr


def test_check_install_reports_every_component(tmp_path):
    result = run_tool([str(REPO / 'tools' / 'check_install.py')], tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'nms and roi_align run' in result.stdout
    assert 'compiled ops run' in result.stdout
    assert 'SE modules registered' in result.stdout


@pytest.mark.slow
def test_train_with_unfetchable_weights_stops_before_training(
        toy_root, tmp_path):
    """Offline (every download refused through a dead proxy, empty weight
    caches): the run ends before its first iteration, naming the weights,
    where to get them and the option that passes a downloaded file."""
    config = tiny_config(tmp_path, toy_root)
    dead_proxy = 'http://127.0.0.1:9'
    env = dict(
        os.environ, TORCH_HOME=str(tmp_path / 'torch'),
        HF_HOME=str(tmp_path / 'hf'), HF_HUB_OFFLINE='1',
        http_proxy=dead_proxy, https_proxy=dead_proxy,
        HTTP_PROXY=dead_proxy, HTTPS_PROXY=dead_proxy, no_proxy='',
        NO_PROXY='')
    name = 'legacy_seresnet18.in1k'
    result = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'train.py'), str(config),
         '--work-dir', str(tmp_path / 'work'), '--cfg-options',
         'model.backbone.init_cfg.type=Pretrained',
         f'model.backbone.init_cfg.checkpoint=timm://{name}'],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 1, result.stderr[-3000:]
    message = result.stderr
    assert f'error: timm://{name}: timm could not load the weights' in message
    assert timm.models.get_pretrained_cfg(name).url in message
    assert '--cfg-options model.backbone.init_cfg.checkpoint=PATH' in message
    assert 'Traceback' not in message
    assert 'Epoch(train)' not in result.stdout + message
    assert not list((tmp_path / 'work').rglob('*.pth'))
