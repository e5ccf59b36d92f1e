import re

import pytest
import torch
from mmcv.ops import ModulatedDeformConv2dPack

from mmdet.models.backbones import ResNeXt
from mmdet.registry import MODELS
from senet_mmdet.models.backbones import SEResNeXt, SEResNeXtBottleneck
from .utils import FC_PARAMS, count_params, se_params


@pytest.mark.parametrize('depth, official', [
    (50, (27.560, 25.029)),
    (101, (48.955, 44.178)),
])
def test_seresnext_32x4d_params_equal_official_models(depth, official):
    """Prototxt counts with the 1000-class FC (SENET_FACTS.md, Sec. 2)."""
    with_se, without_se = official
    se = count_params(SEResNeXt(depth=depth, groups=32, base_width=4))
    plain = count_params(ResNeXt(depth=depth, groups=32, base_width=4))
    assert round((se + FC_PARAMS) / 1e6, 3) == with_se
    assert round((plain + FC_PARAMS) / 1e6, 3) == without_se


@pytest.mark.parametrize('depth, groups, base_width, stage_blocks', [
    (50, 32, 4, (3, 4, 6, 3)),
    (101, 64, 4, (3, 4, 23, 3)),
    (101, 32, 8, (3, 4, 23, 3)),
    (152, 32, 4, (3, 8, 36, 3)),
])
def test_seresnext_widths(depth, groups, base_width, stage_blocks):
    model = SEResNeXt(depth=depth, groups=groups, base_width=base_width)
    block = model.layer1[0]
    assert isinstance(block, SEResNeXtBottleneck)
    assert block.conv2.groups == groups
    assert block.conv2.out_channels == groups * base_width
    extra = count_params(model) - count_params(
        ResNeXt(depth=depth, groups=groups, base_width=base_width))
    assert extra == sum(n * se_params(256 * 2**i)
                        for i, n in enumerate(stage_blocks))


def test_seresnext_forward_and_stride_on_grouped_conv():
    model = MODELS.build(
        dict(type='SEResNeXt', depth=50, groups=32, base_width=4)).eval()
    assert model.layer2[0].conv2.stride == (2, 2)
    assert model.layer2[0].conv1.stride == (1, 1)
    feats = model(torch.randn(1, 3, 64, 64))
    assert [tuple(f.shape) for f in feats] == [(1, 256, 16, 16),
                                               (1, 512, 8, 8),
                                               (1, 1024, 4, 4),
                                               (1, 2048, 2, 2)]


def test_seresnext_se_and_resnet_arguments():
    model = SEResNeXt(
        depth=50,
        groups=32,
        base_width=4,
        stage_with_se=(False, True, True, True),
        se_position='identity',
        frozen_stages=2,
        out_indices=(1, 3),
        plugins=[
            dict(
                cfg=dict(type='SqueezeExcitation', ratio=16),
                position='after_conv2')
        ])
    assert not hasattr(model.layer1[0], 'se')
    assert model.layer2[0].se_position == 'identity'
    # Plugins inside a grouped bottleneck see its grouped width.
    assert model.layer1[0].squeeze_excitation.fc1.in_channels == 128
    assert not any(p.requires_grad for p in model.layer2.parameters())
    assert model.train() is model
    feats = model.eval()(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [512, 2048]


def test_seresnext_zero_init_residual():
    model = SEResNeXt(depth=50, groups=32, base_width=4)
    model.init_weights()
    assert all(
        torch.all(block.norm3.weight == 0) for block in model.layer3)


def test_seresnext_bad_depth():
    with pytest.raises(
            ValueError,
            match=re.escape('SEResNeXt: depth=18 is not supported; choose '
                            'one of (50, 101, 152, 26, 200, 201, 269)')):
        SEResNeXt(depth=18, groups=32, base_width=4)


def test_se_plugin_on_mmdet_resnext_has_the_se_block_params():
    plugin = dict(
        cfg=dict(type='SqueezeExcitation', ratio=16), position='after_conv3')
    resnext = ResNeXt(depth=50, groups=32, base_width=4, plugins=[plugin])
    assert count_params(resnext) == count_params(
        SEResNeXt(depth=50, groups=32, base_width=4))
    resnext.eval()
    feats = resnext(torch.randn(1, 3, 64, 64))
    assert feats[-1].shape == (1, 2048, 2, 2)


def test_timm_variant_arguments_keep_the_detection_arguments():
    # A tiered-stem, anti-aliased "d" model with DCN, checkpointing, frozen
    # stem and stage 1 and frozen BatchNorm statistics, training.
    model = SEResNeXt(
        depth=26, groups=32, base_width=4, deep_stem=True,
        stem_widths=(24, 32), avg_down=True, anti_alias=True,
        stem_pool='avg',
        dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True), with_cp=True,
        frozen_stages=1, norm_eval=True)
    model.train()
    assert isinstance(model.layer2[0].conv2, ModulatedDeformConv2dPack)
    assert model.layer2[0].conv2.stride == (1, 1)
    assert model.layer2[0].aa is not None
    assert not any(m.training for m in model.modules()
                   if isinstance(m, torch.nn.BatchNorm2d))
    # mmcv's CPU deformable conv needs each input at least kernel-sized.
    x = torch.randn(1, 3, 128, 128, requires_grad=True)
    sum(f.sum() for f in model(x)).backward()
    assert all(p.grad is None for p in model.stem.parameters())
    assert all(p.grad is None for p in model.layer1.parameters())
    assert model.layer2[0].conv2.weight.grad is not None
    assert model.layer4[-1].se.fc1.weight.grad is not None


def test_seresnext_reports_its_groups_and_width_to_the_loader():
    backbone = SEResNeXt(depth=50, groups=32, base_width=4)
    conventions = backbone.weight_conventions()
    assert conventions['type'] == 'SEResNeXt'
    assert (conventions['groups'], conventions['base_width']) == (32, 4)
    assert conventions['depth'] == 50
