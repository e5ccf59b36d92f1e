import re

import pytest
import torch
from mmcv.cnn import build_plugin_layer
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import DefaultScope
from torch import nn

from mmdet.registry import MODELS
from senet_mmdet.models.layers import SqueezeExcitation


def reference_se(module: SqueezeExcitation, x: torch.Tensor) -> torch.Tensor:
    """The paper's equations (2)-(4) written out with functional ops."""
    pooled = x.mean(dim=(2, 3)) if isinstance(
        module.pool, nn.AdaptiveAvgPool2d) else x.amax(dim=(2, 3))
    w1 = module.fc1.weight.flatten(1)
    w2 = module.fc2.weight.flatten(1)
    hidden = torch.relu(nn.functional.linear(pooled, w1, module.fc1.bias))
    logits = nn.functional.linear(hidden, w2, module.fc2.bias)
    gate = torch.sigmoid(logits) if isinstance(
        module.gate, nn.Sigmoid) else nn.functional.hardsigmoid(logits)
    return x * gate[:, :, None, None]


@pytest.mark.parametrize('squeeze', ['avg', 'max'])
@pytest.mark.parametrize('gate', ['sigmoid', 'hard_sigmoid'])
def test_se_matches_paper_equations(squeeze, gate):
    torch.manual_seed(0)
    se = SqueezeExcitation(64, ratio=16, squeeze=squeeze, gate=gate)
    x = torch.randn(2, 64, 7, 9)
    out = se(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, reference_se(se, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('channels, squeeze_width',
                         [(256, 16), (512, 32), (1024, 64), (2048, 128)])
def test_se_squeeze_width_is_exact_for_official_widths(channels,
                                                       squeeze_width):
    se = SqueezeExcitation(channels)
    assert se.fc1.weight.shape == (squeeze_width, channels, 1, 1)
    assert se.fc2.weight.shape == (channels, squeeze_width, 1, 1)
    # Biased FCs, as in the released models: 2 C^2 / r + C / r + C.
    n_params = sum(p.numel() for p in se.parameters())
    assert n_params == 2 * channels * squeeze_width + squeeze_width + channels


def test_se_without_bias():
    se = SqueezeExcitation(256, bias=False)
    assert se.fc1.bias is None and se.fc2.bias is None
    assert sum(p.numel() for p in se.parameters()) == 2 * 256 * 16


def test_se_gradients_match_reference():
    torch.manual_seed(0)
    se = SqueezeExcitation(32, ratio=4)
    x = torch.randn(2, 32, 5, 5, requires_grad=True)
    (grad, ) = torch.autograd.grad(se(x).square().sum(), x)
    x_ref = x.detach().clone().requires_grad_()
    (grad_ref, ) = torch.autograd.grad(
        reference_se(se, x_ref).square().sum(), x_ref)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('kwargs, message', [
    (dict(ratio=0), 'ratio=0 must be a positive integer'),
    (dict(ratio=-4), 'ratio=-4 must be a positive integer'),
    (dict(ratio=2.5), 'ratio=2.5 must be a positive integer'),
    (dict(ratio='16'), "ratio='16' must be a positive integer"),
    (dict(ratio=True), 'ratio=True must be a positive integer'),
    (dict(ratio=128), 'ratio=128 leaves no channel'),
    (dict(squeeze='median'), "squeeze='median' is not supported; "
     "choose one of ('avg', 'max')"),
    (dict(gate='relu'), "gate='relu' is not supported; "
     "choose one of ('sigmoid', 'hard_sigmoid')"),
])
def test_se_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SqueezeExcitation(64, **kwargs)


def test_se_registered_in_mmdet_and_root_registries():
    assert MODELS.get('SqueezeExcitation') is SqueezeExcitation
    assert 'SqueezeExcitation' in MODELS.module_dict
    assert MMENGINE_MODELS.get('SqueezeExcitation') is SqueezeExcitation
    se = MODELS.build(dict(type='SqueezeExcitation', in_channels=64))
    assert isinstance(se, SqueezeExcitation)


@pytest.mark.parametrize('scope', [None, 'mmdet', 'senet_mmdet'])
def test_se_found_by_mmcv_plugin_builder(scope):
    cfg = dict(type='SqueezeExcitation', ratio=8)
    if scope is None:
        name, layer = build_plugin_layer(cfg, in_channels=64)
    else:
        with DefaultScope.overwrite_default_scope(scope):
            name, layer = build_plugin_layer(cfg, in_channels=64)
    assert name == 'squeeze_excitation'
    assert isinstance(layer, SqueezeExcitation)
    assert layer.fc1.out_channels == 8
