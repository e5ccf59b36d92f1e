"""tools/check_install.py on the paths this machine cannot take for real:
CUDA available with an mmcv built without CUDA ops, with CUDA ops that fail
on the GPU, and with ops that run there. CUDA's availability, mmcv's
compiled-in CUDA version and the GPU run are stand-ins; the CPU ops run
for real."""
import importlib.util
from pathlib import Path

import mmcv.ops
import pytest
import torch

REPO = Path(__file__).parents[2]


@pytest.fixture
def check_install():
    spec = importlib.util.spec_from_file_location(
        'check_install', REPO / 'tools' / 'check_install.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def with_gpu(monkeypatch, check_install, built_with: str, gpu_error=None):
    """CUDA reported available, mmcv reporting ``built_with``, and the ops'
    GPU run raising ``gpu_error`` (or passing); the CPU run is real."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'get_device_name', lambda: 'GPU-X')
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version',
                        lambda: built_with)
    run_on_cpu = check_install.run_box_ops

    def run_box_ops(nms, roi_align, device):
        if device == 'cpu':
            return run_on_cpu(nms, roi_align, device)
        if gpu_error is not None:
            raise gpu_error

    monkeypatch.setattr(check_install, 'run_box_ops', run_box_ops)


def test_every_component_runs_here(check_install):
    lines = [check() for check in (check_install.check_torchvision,
                                   check_install.check_mmcv,
                                   check_install.check_registry)]
    assert lines[0].endswith('nms and roi_align run')
    assert 'compiled ops run on the CPU' in lines[1]
    assert lines[2].endswith('SE modules registered')


def test_a_cpu_machine_is_told_what_the_mmcv_build_holds(
        monkeypatch, check_install):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version',
                        lambda: check_install.NO_CUDA_OPS)
    assert check_install.check_mmcv().endswith(
        'compiled ops run on the CPU (built without CUDA ops; no GPU here '
        'to run them on)')


def test_mmcv_without_cuda_ops_fails_where_cuda_is_available(
        monkeypatch, check_install):
    with_gpu(monkeypatch, check_install, check_install.NO_CUDA_OPS)
    with pytest.raises(SystemExit) as exit_info:
        check_install.check_mmcv()
    message = str(exit_info.value.code)
    assert message.startswith('error: mmcv ')
    assert f'was built without CUDA ops, but CUDA {torch.version.cuda} is ' \
        'available' in message
    assert 'nvcc of CUDA' in message
    assert 'FORCE_CUDA=1 python tools/install/mmcv_wheel.py --rebuild' \
        in message


def test_mmcv_cuda_ops_that_fail_on_the_gpu_are_named(
        monkeypatch, check_install):
    failure = RuntimeError('nms_impl: implementation for device cuda:0 not '
                           'found.')
    with_gpu(monkeypatch, check_install, '11.8', failure)
    with pytest.raises(SystemExit) as exit_info:
        check_install.check_mmcv()
    message = str(exit_info.value.code)
    assert 'its compiled ops run on the CPU but fail on the GPU' in message
    assert 'implementation for device cuda:0 not found' in message
    assert f'built with CUDA 11.8, torch uses CUDA {torch.version.cuda}' \
        in message
    assert 'FORCE_CUDA=1 python tools/install/mmcv_wheel.py' in message


def test_mmcv_cuda_ops_that_run_on_the_gpu_pass(monkeypatch, check_install):
    with_gpu(monkeypatch, check_install, '12.8')
    assert check_install.check_mmcv().endswith(
        'compiled ops run on the CPU and on GPU-X (built with CUDA 12.8)')
