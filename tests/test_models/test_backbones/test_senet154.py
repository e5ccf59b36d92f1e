import re

import pytest
import torch
from mmcv.ops import ModulatedDeformConv2dPack
from torch import nn

from mmdet.registry import MODELS
from senet_mmdet.models.backbones import SENet154, SENet154Bottleneck
from .utils import FC_PARAMS, check_norm_state, count_params


def test_senet154_params_equal_official_model():
    """115.089M with the 1000-class FC (SENet-154.prototxt, counted in
    SENET_FACTS.md, Sec. 2); the backbone has no FC."""
    model = SENet154()
    assert round((count_params(model) + FC_PARAMS) / 1e6, 3) == 115.089
    assert count_params(model) == 113_039_984
    # Without SE: 108.460M, the official network's count with SE removed.
    plain = SENet154(stage_with_se=(False, ) * 4)
    assert round((count_params(plain) + FC_PARAMS) / 1e6, 3) == 108.460


def test_senet154_architecture():
    model = MODELS.build(dict(type='SENet154'))
    # Deep stem 3x3/2 (64) -> 3x3 (64) -> 3x3 (128).
    stem_convs = [m for m in model.stem if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.stride) for c in stem_convs] == [
        (64, (2, 2)), (64, (1, 1)), (128, (1, 1))
    ]
    assert [len(getattr(model, name)) for name in model.res_layers] == [
        3, 8, 36, 3
    ]
    for i, name in enumerate(model.res_layers):
        block = getattr(model, name)[0]
        assert isinstance(block, SENet154Bottleneck)
        # The first 1x1 is halved; the grouped 3x3 carries the stride.
        assert block.conv1.out_channels == 128 * 2**i
        assert block.conv2.in_channels == 128 * 2**i
        assert block.conv2.out_channels == 256 * 2**i
        assert block.conv2.groups == 64
        assert block.conv2.stride == ((1, 1) if i == 0 else (2, 2))
        assert block.se.fc1.out_channels == 256 * 2**i // 16
        projection = block.downsample[0]
        # 1x1 stride 1 in stage 2, 3x3 stride 2 with padding 1 afterwards.
        if i == 0:
            assert (projection.kernel_size, projection.stride) == ((1, 1),
                                                                   (1, 1))
        else:
            assert (projection.kernel_size, projection.stride,
                    projection.padding) == ((3, 3), (2, 2), (1, 1))


def test_senet154_forward_and_detection_arguments():
    model = SENet154(
        out_indices=(1, 2, 3),
        frozen_stages=1,
        norm_eval=True,
        stage_with_se=(True, True, True, False))
    model.init_weights()
    assert model.train() is model
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert check_norm_state(model.modules(), False)
    assert not hasattr(model.layer4[0], 'se')
    feats = model(torch.randn(1, 3, 64, 64))
    assert [tuple(f.shape) for f in feats] == [(1, 512, 8, 8),
                                               (1, 1024, 4, 4),
                                               (1, 2048, 2, 2)]
    # The fused SE step runs in this frozen-BN setting; gradients flow.
    assert model.layer2[0].se_fuses_with_last_norm()
    feats[-1].sum().backward()
    assert model.layer2[0].conv1.weight.grad is not None


def test_senet154_with_cp_and_plugins():
    model = SENet154(
        with_cp=True,
        plugins=[
            dict(
                cfg=dict(type='SqueezeExcitation', ratio=8),
                stages=(True, False, False, False),
                position='after_conv1')
        ])
    assert model.layer1[0].squeeze_excitation.fc1.in_channels == 128
    model.train()
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    model(x)[-1].sum().backward()
    assert x.grad is not None


@pytest.mark.parametrize('kwargs', [
    dict(groups=32), dict(depth=101), dict(deep_stem=False),
    dict(stem_channels=64)
])
def test_senet154_rejects_architecture_changes(kwargs):
    name, value = next(iter(kwargs.items()))
    with pytest.raises(
            ValueError,
            match=re.escape(f"SENet154: {{'{name}': {value}}} contradict")):
        SENet154(**kwargs)


def test_senet154_takes_dcn_in_the_given_stages():
    # PaddleDetection's SENet-154-vd detectors: DCNv2 in stages 3-5.
    model = SENet154(
        dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True))
    assert type(model.layer1[0].conv2) is torch.nn.Conv2d
    for stage in (model.layer2, model.layer3, model.layer4):
        for block in stage:
            conv2 = block.conv2
            assert isinstance(conv2, ModulatedDeformConv2dPack)
            # The halved first 1x1 feeds the grouped deformable 3x3.
            assert conv2.in_channels * 2 == conv2.out_channels
            assert conv2.groups == 64
    # Its forward and backward run in the Cascade Mask R-CNN config's test
    # (tests/test_configs).
