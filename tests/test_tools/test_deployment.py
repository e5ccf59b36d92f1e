"""ONNX export of the feature extractor, checked in onnxruntime."""
import json

import numpy as np
import onnxruntime
import pytest
import torch

from mmdet.apis import init_detector
from .utils import FASTER, python_tool, run, tool_in_process


@pytest.mark.slow
def test_exported_features_match_pytorch_in_onnxruntime(trained, tmp_path):
    config, checkpoint = trained
    out = tmp_path / 'features.onnx'
    result = run(
        python_tool('deployment/pytorch2onnx.py', config, checkpoint,
                    '--shape', 200, 300, '--out', out, '--repeat', 1),
        tmp_path)
    assert 'latency (median of 1): PyTorch' in result.stdout
    report = json.loads((tmp_path / 'features.json').read_text())
    assert report['input_shape'] == [1, 3, 224, 320]
    assert [level['ok'] for level in report['levels']] == [True] * 4

    # Checked here again, independently of the tool, on other pixels.
    detector = init_detector(str(config), str(checkpoint), device='cpu')
    inputs = torch.randn(1, 3, 224, 320)
    with torch.no_grad():
        expected = detector.extract_feat(inputs)
    session = onnxruntime.InferenceSession(
        str(out), providers=['CPUExecutionProvider'])
    got = session.run(None, {'inputs': inputs.numpy()})
    assert len(got) == len(expected) == 4
    for ours, theirs in zip(got, expected):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=0, atol=1e-4)


@pytest.mark.slow
def test_legacy_exporter_with_dynamic_axes(trained, tmp_path):
    config, checkpoint = trained
    run(python_tool('deployment/pytorch2onnx.py', config, checkpoint,
                    '--shape', 128, 160, '--exporter', 'legacy', '--dynamic',
                    '--out', tmp_path / 'features.onnx', '--repeat', 1),
        tmp_path)
    report = json.loads((tmp_path / 'features.json').read_text())
    # Checked at the export's shape and at batch 2, 32 px smaller.
    assert [level['shape'][:3] for level in report['levels']] == (
        [[1, 64, 32]] + [[1, 64, 16]] + [[1, 64, 8]] + [[1, 64, 4]] +
        [[2, 64, 24]] + [[2, 64, 12]] + [[2, 64, 6]] + [[2, 64, 3]])
    assert all(level['ok'] for level in report['levels'])


def test_missing_checkpoint_is_named(tmp_path):
    result = tool_in_process('deployment/pytorch2onnx.py', FASTER,
                             tmp_path / 'absent.pth', cwd=tmp_path)
    assert result.returncode == 2
    assert f'checkpoint {tmp_path}/absent.pth does not exist' in (
        result.stderr)
