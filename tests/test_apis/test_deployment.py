"""mmdeploy_torch_compat: the two shims mmdeploy 1.3.1 needs on newer torch
apply only inside the context, only where this torch needs them, and a
torch without the TorchScript-based exporter is named as such."""
import inspect

import onnx
import pytest
import torch
import torch.onnx.symbolic_opset9 as symbolic_opset9
from torch.torch_version import TorchVersion

from senet_mmdet.apis import deployment
from senet_mmdet.apis.deployment import (ExporterUnavailableError,
                                         mmdeploy_torch_compat)


class RecordingGraph:
    """Stands in for the TorchScript exporter's graph context ``g``."""

    def op(self, name, *inputs, **attributes):
        return (name, inputs, attributes)


def test_export_gets_the_torchscript_exporter_inside_only(monkeypatch):
    calls = []

    def export(model, args, f, dynamo=True, opset_version=None):
        calls.append(dict(dynamo=dynamo, opset_version=opset_version))

    monkeypatch.setattr(torch.onnx, 'export', export)
    with mmdeploy_torch_compat():
        torch.onnx.export(None, (), 'x.onnx', opset_version=11)
        # A caller that chooses still gets its choice.
        torch.onnx.export(None, (), 'x.onnx', dynamo=True)
    torch.onnx.export(None, (), 'x.onnx')
    assert calls == [dict(dynamo=False, opset_version=11),
                     dict(dynamo=True, opset_version=None),
                     dict(dynamo=True, opset_version=None)]
    assert torch.onnx.export is export


def test_cast_long_stand_in_emits_a_cast_to_int64(monkeypatch):
    monkeypatch.delattr(symbolic_opset9, '_cast_Long', raising=False)
    with mmdeploy_torch_compat():
        # As mmdeploy's RoIAlign symbolic imports and calls it.
        from torch.onnx.symbolic_opset9 import _cast_Long
        name, inputs, attributes = _cast_Long(RecordingGraph(), 'indices',
                                              False)
    assert (name, inputs) == ('Cast', ('indices', ))
    assert attributes == dict(to_i=onnx.TensorProto.INT64)
    assert not hasattr(symbolic_opset9, '_cast_Long')


def test_a_torch_that_has_cast_long_keeps_its_own(monkeypatch):
    def own(g, tensor, non_blocking):
        return 'own'

    monkeypatch.setattr(symbolic_opset9, '_cast_Long', own, raising=False)
    with mmdeploy_torch_compat():
        assert symbolic_opset9._cast_Long is own
    assert symbolic_opset9._cast_Long is own


def test_the_tested_stacks_need_the_shims_they_get():
    """When this fails, torch changed: drop the shim it no longer needs."""
    switch = inspect.signature(torch.onnx.export).parameters.get('dynamo')
    if torch.__version__ < (2, 2):
        # torch 2.1: the TorchScript exporter only, and _cast_Long.
        assert switch is None
        assert hasattr(symbolic_opset9, '_cast_Long')
    else:
        # torch 2.13: dynamo by default, and no _cast_Long.
        assert switch.default is True
        assert not hasattr(symbolic_opset9, '_cast_Long')


def test_a_torch_without_the_torchscript_exporter_names_the_last_good_one(
        monkeypatch):
    def export(model, args, f):
        raise AssertionError('never called')

    monkeypatch.setattr(torch.onnx, 'export', export)
    monkeypatch.setattr(torch, '__version__', TorchVersion('2.20.0'))
    with pytest.raises(ExporterUnavailableError) as error:
        with mmdeploy_torch_compat():
            raise AssertionError('never entered')
    assert str(error.value) == (
        'torch 2.20.0 has no TorchScript-based ONNX exporter '
        '(torch.onnx.export takes no dynamo=False), which mmdeploy 1.3.1 '
        'needs; the last torch known to work is '
        f'{deployment.LAST_TORCH_KNOWN_TO_EXPORT}')
    assert deployment.LAST_TORCH_KNOWN_TO_EXPORT == '2.13.0'
