import re

import pytest
import torch
from mmcv.ops import DeformConv2dPack, ModulatedDeformConv2dPack
from torch import nn

from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS
from senet_mmdet.models.backbones import (SEBasicBlock, SEBottleneck,
                                          SEResNet)
from senet_mmdet.models.backbones import seresnet as seresnet_module
from senet_mmdet.models.layers import se_fused
from senet_mmdet.models.layers.caffe_pool import CaffeMaxPool2d
from senet_mmdet.models.layers import SqueezeExcitation
from .utils import FC_PARAMS, check_norm_state, count_params, se_params


@pytest.mark.parametrize('depth, official', [
    (50, (28.088, 25.557)),
    (101, (49.327, 44.549)),
    (152, (66.822, 60.193)),
])
def test_seresnet_params_equal_official_models(depth, official):
    """The prototxt counts with the 1000-class FC (SENET_FACTS.md, Sec. 2),
    rounded to 1e3 parameters as published; the backbone has no FC."""
    with_se, without_se = official
    se = count_params(SEResNet(depth=depth))
    plain = count_params(ResNet(depth=depth))
    assert round((se + FC_PARAMS) / 1e6, 3) == with_se
    assert round((plain + FC_PARAMS) / 1e6, 3) == without_se


def test_seresnet50_detection_backbone_params():
    # SE-ResNet-50 without the FC: 26.039M; the SE modules add 2.515M
    # weights (paper Sec. 4) plus 16,048 biases.
    model = SEResNet(depth=50)
    assert count_params(model) == 26_039_024
    extra = count_params(model) - count_params(ResNet(depth=50))
    assert extra == 2_514_944 + 16_048


@pytest.mark.parametrize('depth, stage_blocks, width',
                         [(18, (2, 2, 2, 2), 64), (34, (3, 4, 6, 3), 64)])
def test_seresnet_basic_block_params(depth, stage_blocks, width):
    """No official SE-ResNet-18/34 exists: the count is ResNet's plus one SE
    module of width C per block."""
    expected = count_params(ResNet(depth=depth)) + sum(
        n * se_params(width * 2**i) for i, n in enumerate(stage_blocks))
    assert count_params(SEResNet(depth=depth)) == expected


def test_seresnet_without_se_in_last_stage():
    """Paper Sec. 4: the last stage holds 1.57M of the SE parameters, and
    dropping it leaves about +4 % over ResNet-50."""
    full = count_params(SEResNet(depth=50))
    no_last = count_params(
        SEResNet(depth=50, stage_with_se=(True, True, True, False)))
    plain = count_params(ResNet(depth=50))
    assert full - no_last == 3 * se_params(2048) == 1_579_392
    assert 0.035 < (no_last - plain) / (plain + FC_PARAMS) < 0.045
    model = SEResNet(depth=50, stage_with_se=(True, True, True, False))
    assert all(hasattr(block, 'se') for block in model.layer3)
    assert not any(hasattr(block, 'se') for block in model.layer4)


@pytest.mark.parametrize('depth, block, channels', [
    (18, SEBasicBlock, (64, 128, 256, 512)),
    (34, SEBasicBlock, (64, 128, 256, 512)),
    (50, SEBottleneck, (256, 512, 1024, 2048)),
    (101, SEBottleneck, (256, 512, 1024, 2048)),
    (152, SEBottleneck, (256, 512, 1024, 2048)),
])
def test_seresnet_depths_and_outputs(depth, block, channels):
    model = SEResNet(depth=depth).eval()
    assert all(
        isinstance(m, block) for name in model.res_layers
        for m in getattr(model, name))
    feats = model(torch.randn(1, 3, 64, 64))
    assert [tuple(f.shape) for f in feats] == [
        (1, c, 16 // 2**i, 16 // 2**i) for i, c in enumerate(channels)
    ]


def test_seresnet_squeeze_width_is_exact():
    model = SEResNet(depth=50)
    widths = [getattr(model, f'layer{i}')[0].se.fc1.out_channels
              for i in range(1, 5)]
    assert widths == [16, 32, 64, 128]


def test_seresnet_registered_and_train_returns_self():
    model = MODELS.build(dict(type='SEResNet', depth=18))
    assert isinstance(model, SEResNet)
    assert model.train() is model
    assert model.eval() is model


def test_seresnet_resnet_arguments_keep_their_meaning():
    # num_stages, strides, dilations, out_indices: a dilated C4 backbone.
    model = SEResNet(
        depth=50,
        num_stages=3,
        strides=(1, 2, 1),
        dilations=(1, 1, 2),
        out_indices=(2, )).eval()
    assert len(model.res_layers) == 3
    (feat, ) = model(torch.randn(1, 3, 64, 64))
    assert feat.shape == (1, 1024, 8, 8)
    assert model.layer3[1].conv2.dilation == (2, 2)

    # style: the stride-2 conv is the 3x3 for pytorch, the first 1x1 for
    # caffe (the official SE-ResNet models).
    pytorch = SEResNet(depth=50, style='pytorch')
    caffe = SEResNet(depth=50, style='caffe')
    assert pytorch.layer2[0].conv2.stride == (2, 2)
    assert pytorch.layer2[0].conv1.stride == (1, 1)
    assert caffe.layer2[0].conv1.stride == (2, 2)
    assert caffe.layer2[0].conv2.stride == (1, 1)

    # deep_stem and avg_down (ResNet-D).
    model = SEResNet(depth=50, deep_stem=True, avg_down=True).eval()
    assert not hasattr(model, 'conv1') and len(model.stem) == 9
    assert isinstance(model.layer2[0].downsample[0], nn.AvgPool2d)
    assert model(torch.randn(1, 3, 64, 64))[-1].shape == (1, 2048, 2, 2)

    # base_channels / stem_channels
    model = SEResNet(depth=18, base_channels=32, stem_channels=16).eval()
    assert model(torch.randn(1, 3, 64, 64))[-1].shape == (1, 256, 2, 2)


def test_seresnet_frozen_stages_and_norm_eval():
    model = SEResNet(depth=50, frozen_stages=1, norm_eval=True)
    model.init_weights()
    model.train()
    assert not model.norm1.training
    for param in [*model.conv1.parameters(), *model.norm1.parameters(),
                  *model.layer1.parameters()]:
        assert not param.requires_grad
    assert all(p.requires_grad for p in model.layer2.parameters())
    # The SE modules of a frozen stage are frozen with it.
    assert not model.layer1[0].se.fc1.weight.requires_grad
    assert check_norm_state(model.modules(), False)

    model = SEResNet(depth=50, norm_eval=False).train()
    assert check_norm_state(model.modules(), True)


@pytest.mark.parametrize('norm_cfg, norm_type', [
    (dict(type='BN', requires_grad=True), nn.BatchNorm2d),
    (dict(type='SyncBN', requires_grad=True), nn.SyncBatchNorm),
    (dict(type='GN', num_groups=32, requires_grad=True), nn.GroupNorm),
])
def test_seresnet_norm_cfg(norm_cfg, norm_type):
    model = SEResNet(depth=50, norm_cfg=norm_cfg)
    assert isinstance(model.norm1, norm_type)
    assert isinstance(model.layer4[2].norm3, norm_type)
    if norm_type is nn.GroupNorm:
        # SyncBN needs a process group to run; BN runs in other tests.
        feats = model.eval()(torch.randn(1, 3, 64, 64))
        assert feats[-1].shape == (1, 2048, 2, 2)


def test_seresnet_conv_cfg():
    model = SEResNet(depth=50, conv_cfg=dict(type='ConvWS'))
    assert type(model.layer1[0].conv2).__name__ == 'ConvWS2d'
    assert model.eval()(torch.randn(1, 3, 32, 32))[-1].shape == (1, 2048, 1,
                                                                1)


@pytest.mark.parametrize('dcn, conv_type', [
    (dict(type='DCN', deform_groups=1, fallback_on_stride=False),
     DeformConv2dPack),
    (dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
     ModulatedDeformConv2dPack),
])
def test_seresnet_dcn(dcn, conv_type):
    model = SEResNet(
        depth=50, dcn=dcn, stage_with_dcn=(False, True, True, True))
    assert not isinstance(model.layer1[0].conv2, conv_type)
    assert isinstance(model.layer2[0].conv2, conv_type)
    assert isinstance(model.layer4[2].conv2, conv_type)
    # mmcv's CPU deformable conv needs each input at least kernel-sized.
    feats = model.eval()(torch.randn(1, 3, 128, 128))
    assert feats[-1].shape == (1, 2048, 4, 4)


def test_seresnet_plugins():
    plugins = [
        dict(
            cfg=dict(type='ContextBlock', ratio=1. / 16),
            stages=(False, True, True, True),
            position='after_conv3'),
        dict(
            cfg=dict(type='SqueezeExcitation', ratio=8),
            stages=(True, False, False, False),
            position='after_conv2'),
    ]
    model = SEResNet(depth=50, plugins=plugins).eval()
    assert hasattr(model.layer2[0], 'context_block')
    assert not hasattr(model.layer1[0], 'context_block')
    # A second SE after the 3x3 of stage 1: the paper's "SE on the 3x3
    # output" beside the block's own.
    assert model.layer1[0].squeeze_excitation.fc1.in_channels == 64
    assert model.layer1[0].se.fc1.in_channels == 256
    assert model(torch.randn(1, 3, 64, 64))[-1].shape == (1, 2048, 2, 2)


def test_seresnet_with_cp_matches_plain_forward_and_backward():
    torch.manual_seed(0)
    model = SEResNet(depth=18, norm_eval=False, zero_init_residual=False)
    model.init_weights()
    model_cp = SEResNet(
        depth=18, norm_eval=False, zero_init_residual=False, with_cp=True)
    model_cp.load_state_dict(model.state_dict())
    assert model_cp.layer1[0].with_cp
    model.eval()
    model_cp.eval()
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    x_cp = x.detach().clone().requires_grad_()
    out = model(x)[-1]
    out_cp = model_cp(x_cp)[-1]
    torch.testing.assert_close(out_cp, out, rtol=1e-5, atol=1e-6)
    out.sum().backward()
    out_cp.sum().backward()
    torch.testing.assert_close(x_cp.grad, x.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model_cp.layer2[0].se.fc1.weight.grad,
                               model.layer2[0].se.fc1.weight.grad)


@pytest.mark.parametrize('depth, last_norm', [(18, 'norm2'), (50, 'norm3')])
def test_seresnet_zero_init_residual(depth, last_norm):
    model = SEResNet(depth=depth, zero_init_residual=True)
    model.init_weights()
    for name in model.res_layers:
        for block in getattr(model, name):
            assert torch.all(getattr(block, last_norm).weight == 0)
    # A zero residual branch makes every block the identity at start.
    block = model.layer2[1].eval()
    x = torch.rand(1, block.conv1.in_channels, 8, 8)
    torch.testing.assert_close(block(x), x)

    model = SEResNet(depth=depth, zero_init_residual=False)
    model.init_weights()
    assert torch.all(getattr(model.layer1[0], last_norm).weight == 1)


def test_seresnet_init_cfg_pretrained(tmp_path):
    torch.manual_seed(0)
    source = SEResNet(depth=18)
    source.init_weights()
    path = tmp_path / 'se_r18.pth'
    torch.save(source.state_dict(), path)
    model = SEResNet(
        depth=18, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)


@pytest.mark.parametrize('position', ['standard', 'pre', 'post', 'identity'])
def test_seresnet_se_positions(position):
    """Each position computes the residual unit of paper Fig. 5."""
    torch.manual_seed(0)
    model = SEResNet(
        depth=50, se_position=position, zero_init_residual=False)
    model.init_weights()
    block = model.layer2[0].eval()
    x = torch.randn(1, 256, 16, 16)

    def residual(inputs):
        features = block.residual_head(inputs)
        return block.residual_tail(block.last_conv(features))

    with torch.no_grad():
        identity = block.downsample(x)
        if position == 'pre':
            assert block.se.fc1.in_channels == 256
            expected = torch.relu(residual(block.se(x)) + identity)
        else:
            assert block.se.fc1.in_channels == 512
            branch = residual(x)
            expected = {
                'standard': lambda: torch.relu(block.se(branch) + identity),
                'post': lambda: block.se(torch.relu(branch + identity)),
                'identity': lambda: torch.relu(branch + block.se(identity)),
            }[position]()
        torch.testing.assert_close(block(x), expected)
    assert model(torch.randn(1, 3, 64, 64))[-1].shape == (1, 2048, 2, 2)


def test_seresnet_se_module_options():
    model = SEResNet(
        depth=18,
        se_ratio=4,
        se_squeeze='max',
        se_gate='hard_sigmoid',
        se_bias=False)
    se = model.layer1[0].se
    assert isinstance(se, SqueezeExcitation)
    assert isinstance(se.pool, nn.AdaptiveMaxPool2d)
    assert isinstance(se.gate, nn.Hardsigmoid)
    assert se.fc1.bias is None and se.fc1.out_channels == 16
    assert model.eval()(torch.randn(1, 3, 32, 32))[-1].shape == (1, 512, 1, 1)


def test_se_plugin_on_mmdet_resnet_is_the_standard_block():
    """mmdet's ResNet with the SE plugin after conv3 computes SE-ResNet-50."""
    plugin = dict(
        cfg=dict(type='SqueezeExcitation', ratio=16), position='after_conv3')
    resnet = ResNet(depth=50, plugins=[plugin])
    seresnet = SEResNet(depth=50, zero_init_residual=False)
    seresnet.init_weights()
    assert count_params(resnet) == count_params(seresnet)
    state = {
        key.replace('.se.', '.squeeze_excitation.'): value
        for key, value in seresnet.state_dict().items()
    }
    resnet.load_state_dict(state, strict=True)
    # mmdet's ResNet.eval() returns None, so no chaining here.
    resnet.eval()
    seresnet.eval()
    x = torch.randn(1, 3, 64, 64)
    for out, ref in zip(resnet(x), seresnet(x)):
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kwargs, message', [
    (dict(depth=42), 'SEResNet: depth=42 is not supported; '
     'choose one of (18, 34, 50, 101, 152, 26, 200, 201, 269)'),
    (dict(depth=50, stem_widths=(24, 32)), 'SEResNet: stem_widths=(24, 32) '
     'sets the widths of the deep stem; add deep_stem=True'),
    (dict(depth=50, deep_stem=True, stem_widths=(24, )),
     'SEResNet: stem_widths=(24,) must be two positive ints'),
    (dict(depth=50, deep_stem=True, stem_widths=(24, 0)),
     'SEResNet: stem_widths=(24, 0) must be two positive ints'),
    (dict(depth=50, anti_alias=True, style='caffe'),
     "SEResNet: anti_alias=True downsamples after the 3x3 conv, which leaves "
     "no stride for style='caffe'; use style='pytorch'"),
    (dict(depth=18, relu_before_se=True, se_position='post'),
     'SEResNet: relu_before_se=True puts a ReLU before the SE module at the '
     "standard position; it does not go with se_position='post'"),
    (dict(depth=50, se_ratio=0), 'SEResNet: se_ratio=0 must be a positive '
     'integer'),
    (dict(depth=50, se_ratio=1.5), 'SEResNet: se_ratio=1.5 must be a '
     'positive integer'),
    (dict(depth=18, se_ratio=128), 'SEResNet: se_ratio=128 leaves no '
     'channel in the 64-channel SE modules of stage 1 (64 // 128 = 0); '
     'choose se_ratio from 1 to 64'),
    (dict(depth=50, se_ratio=300), 'SEResNet: se_ratio=300 leaves no '
     'channel in the 256-channel SE modules of stage 1'),
    (dict(depth=50, se_ratio=300, se_position='pre'),
     'SEResNet: se_ratio=300 leaves no channel in the 64-channel SE modules '
     'of stage 1'),
    (dict(depth=50, se_ratio=600, stage_with_se=(False, True, True, True)),
     'SEResNet: se_ratio=600 leaves no channel in the 512-channel SE modules '
     'of stage 2'),
    (dict(depth=50, se_squeeze='sum'), "SEResNet: se_squeeze='sum' is not "
     "supported; choose one of ('avg', 'max')"),
    (dict(depth=50, se_gate='tanh'), "SEResNet: se_gate='tanh' is not "
     "supported; choose one of ('sigmoid', 'hard_sigmoid')"),
    (dict(depth=50, se_position='after_conv2'),
     "SEResNet: se_position='after_conv2' is not supported; choose one of "
     "('standard', 'pre', 'post', 'identity')"),
    (dict(depth=50, stem_pool='tf'), "SEResNet: stem_pool='tf' is not "
     "supported; choose one of ('pytorch', 'caffe', 'avg')"),
    (dict(depth=50, stage_with_se=(True, True, True)),
     'SEResNet: stage_with_se=(True, True, True) has 3 entries but '
     'num_stages=4; give one bool per stage'),
    (dict(depth=50, stage_with_se=4), 'SEResNet: stage_with_se=4 must be a '
     'tuple of 4 bools, e.g. (True, True, True, False)'),
    (dict(depth=50, stage_with_se=(1, 1, 1, 0)),
     'SEResNet: stage_with_se=(1, 1, 1, 0) must be a tuple of 4 bools'),
    (dict(
        depth=50,
        plugins=[
            dict(cfg=dict(type='SqueezeExcitation'), position='after_conv4')
        ]), "SEResNet: plugin {'type': 'SqueezeExcitation'} has "
     "position='after_conv4'; choose one of ('after_conv1', 'after_conv2', "
     "'after_conv3')"),
    (dict(
        depth=18,
        plugins=[
            dict(cfg=dict(type='SqueezeExcitation'), position='after_conv2')
        ]), 'SEResNet: depth=18 uses basic blocks, which take neither dcn '
     'nor plugins; use depth 50, 101 or 152'),
    (dict(depth=34, dcn=dict(type='DCN', deform_groups=1)),
     'SEResNet: depth=34 uses basic blocks'),
])
def test_seresnet_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SEResNet(**kwargs)


def test_caffe_stem_pool_rounds_up_without_padding():
    caffe = SEResNet(depth=18, stem_pool='caffe').eval()
    assert isinstance(caffe.maxpool, CaffeMaxPool2d)
    pytorch = SEResNet(depth=18).eval()
    pytorch.load_state_dict(caffe.state_dict())
    # 97 -> 49 after the stem conv; Caffe pools that to 24, padding to 25.
    x = torch.rand(1, 3, 97, 97)
    assert caffe(x)[0].shape[-1] == 24
    assert pytorch(x)[0].shape[-1] == 25


def randomize_norms(model: nn.Module) -> None:
    """Non-trivial BatchNorm statistics and affines, as after training."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            with torch.no_grad():
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2)


def assert_equal_to_scale(actual: torch.Tensor,
                          expected: torch.Tensor,
                          name: str = '',
                          tol: float = 1e-5) -> None:
    """max |actual - expected| <= tol * max |expected|: float32 sums over
    large tensors differ elementwise by more than an absolute 1e-5 between
    two equal formulations, but never relative to the tensor's scale."""
    error = (actual - expected).abs().max()
    assert error <= tol * expected.abs().max(), (name, float(error))


def saved_feature_map_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct feature maps (tensors with more than one pixel;
    not parameters, not per-channel vectors) that autograd keeps for the
    backward of ``model(x)``."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        is_map = tensor.dim() == 4 and tensor.shape[2] * tensor.shape[3] > 1
        if is_map and storage.data_ptr() not in params:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(storages.values())


@pytest.mark.parametrize('kwargs, train, fused', [
    (dict(), False, True),
    (dict(norm_eval=True), True, True),
    (dict(norm_eval=False), True, True),
    (dict(norm_eval=False), False, True),
    (dict(norm_cfg=dict(type='SyncBN'), norm_eval=False), True, False),
    (dict(norm_cfg=dict(type='SyncBN'), norm_eval=False), False, True),
    (dict(fuse_se=False), False, False),
    (dict(se_squeeze='max'), False, False),
    (dict(se_position='post'), False, False),
    (dict(norm_cfg=dict(type='GN', num_groups=32)), False, False),
    (dict(plugins=[dict(cfg=dict(type='ContextBlock', ratio=1 / 16),
                        position='after_conv3')]), False, False),
    (dict(plugins=[dict(cfg=dict(type='ContextBlock', ratio=1 / 16),
                        position='after_conv2')]), False, True),
])
def test_fused_se_path_is_taken_exactly_when_exact(kwargs, train, fused):
    model = SEResNet(depth=50, **kwargs).train(train)
    block = model.layer2[0]
    assert block.se_fuses_with_last_norm() is fused
    if not fused:
        return
    # The fused step runs instead of the straightforward SE module.
    calls = []
    block.se.register_forward_hook(lambda *args: calls.append(args))
    model(torch.randn(1, 3, 64, 64))
    assert calls == []


@pytest.mark.parametrize('depth', [18, 50])
@pytest.mark.parametrize('memory_format',
                         [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize('dtype, tol', [(torch.float32, 1e-5),
                                        (torch.float64, 1e-10)])
def test_fused_backbone_equals_straightforward(depth, memory_format, dtype,
                                               tol):
    """Detection setting (BN frozen, stem and stage 1 frozen). Outputs agree
    to 1e-5 in float32. Gradients are compared in float64: in float32 the
    rounding of two equal formulas grows through 13 blocks' backward to
    ~1e-4 of a gradient's scale, while in float64 they agree to ~1e-14,
    which shows the fused backward exact (SE-level float32 gradients are
    compared to 1e-5 in test_se_fused.py)."""
    torch.manual_seed(0)
    fused = SEResNet(depth=depth, frozen_stages=1, zero_init_residual=False)
    fused.init_weights()
    randomize_norms(fused)
    straightforward = SEResNet(
        depth=depth, frozen_stages=1, zero_init_residual=False, fuse_se=False)
    straightforward.load_state_dict(fused.state_dict())
    fused.to(dtype).train()
    straightforward.to(dtype).train()
    x = torch.randn(2, 3, 64, 64, dtype=dtype)
    x = x.to(memory_format=memory_format)
    outs = fused(x)
    refs = straightforward(x)
    for out, ref in zip(outs, refs):
        assert_equal_to_scale(out, ref, tol=tol)
    if dtype is torch.float32:
        return
    # Stage 1 is frozen, so its output needs no gradient.
    grad_outs = [torch.randn_like(out) for out in outs[1:]]
    torch.autograd.backward(outs[1:], grad_outs)
    torch.autograd.backward(refs[1:], grad_outs)
    ref_params = dict(straightforward.named_parameters())
    for name, param in fused.named_parameters():
        if param.requires_grad:
            assert_equal_to_scale(param.grad, ref_params[name].grad, name,
                                  tol)


@pytest.mark.parametrize('settings', [
    dict(norm_eval=True, frozen_stages=1),
    dict(norm_eval=False, frozen_stages=-1),
])
def test_fused_se_keeps_no_more_for_backward_than_resnet(settings):
    """The straightforward SE keeps the norm output for its multiply; the
    fused step keeps exactly the feature maps that the plain ResNet-50 keeps,
    in the detection setting (BN frozen, stem and stage 1 frozen) and with
    BN in training mode. Both SE forms add only per-channel vectors, O(N C)
    against O(N C H W)."""
    x = torch.randn(1, 3, 128, 128)
    settings = dict(depth=50, **settings)
    plain = ResNet(**settings)
    plain.train()  # mmdet's ResNet.train() returns None
    fused = SEResNet(**settings).train()
    straightforward = SEResNet(fuse_se=False, **settings).train()
    plain_bytes = saved_feature_map_bytes(plain, x)
    assert saved_feature_map_bytes(fused, x) == plain_bytes
    assert saved_feature_map_bytes(straightforward, x) >= plain_bytes * 1.10


@pytest.mark.parametrize('depth, memory_format',
                         [(18, torch.contiguous_format),
                          (18, torch.channels_last),
                          (50, torch.contiguous_format)])
def test_fused_backbone_with_live_batchnorm_equals_straightforward(
        depth, memory_format):
    """BatchNorm in training mode (from-scratch and SyncBN-free fine-tuning
    configs, pretraining): over two steps in float64 the fused step gives
    the straightforward block's outputs, every parameter's gradient, and
    the same running statistics and batch counts."""
    torch.manual_seed(0)
    settings = dict(
        depth=depth, norm_eval=False, frozen_stages=-1,
        zero_init_residual=False)
    fused = SEResNet(**settings)
    fused.init_weights()
    randomize_norms(fused)
    fused.layer2[0].norm2.momentum = None  # the cumulative average too
    straightforward = SEResNet(fuse_se=False, **settings)
    straightforward.load_state_dict(fused.state_dict())
    straightforward.layer2[0].norm2.momentum = None
    fused.double().train()
    straightforward.double().train()
    assert fused.layer2[0].se_fuses_with_last_norm()
    for _ in range(2):
        x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
        x = x.to(memory_format=memory_format)
        outs = fused(x)
        refs = straightforward(x)
        for out, ref in zip(outs, refs):
            assert_equal_to_scale(out, ref, tol=1e-10)
        grad_outs = [torch.randn_like(out) for out in outs]
        torch.autograd.backward(outs, grad_outs)
        torch.autograd.backward(refs, grad_outs)
    ref_params = dict(straightforward.named_parameters())
    for name, param in fused.named_parameters():
        assert_equal_to_scale(param.grad, ref_params[name].grad, name, 1e-10)
    ref_buffers = dict(straightforward.named_buffers())
    for name, buffer in fused.named_buffers():
        if buffer.is_floating_point():
            assert_equal_to_scale(buffer, ref_buffers[name], name, 1e-10)
        else:
            assert torch.equal(buffer, ref_buffers[name]), name


def test_fused_se_backbone_compiles(monkeypatch):
    """On feature maps below COMPILED_FUSED_MIN_PIXELS torch.compile traces
    the straightforward SE form, which it can fuse, in place of the fused
    step, forward and backward; aot_eager runs the traced graphs without
    needing a C++ toolchain, and must agree with the eager fused step to
    float rounding."""
    torch.manual_seed(0)
    model = SEResNet(depth=18, frozen_stages=1)
    model.init_weights()
    randomize_norms(model)
    model.train()
    x = torch.randn(2, 3, 64, 64)
    refs = model(x)
    torch._dynamo.reset()
    monkeypatch.setattr(seresnet_module, 'se_norm_residual_relu',
                        _fails_if_called)
    compiled = torch.compile(model, backend='aot_eager', fullgraph=True)
    outs = compiled(x)
    for out, ref in zip(outs, refs):
        assert_equal_to_scale(out, ref)
    grad = torch.autograd.grad(outs[-1].sum(), model.layer4[1].se.fc1.weight)
    ref_grad = torch.autograd.grad(refs[-1].sum(),
                                   model.layer4[1].se.fc1.weight)
    assert_equal_to_scale(grad[0], ref_grad[0])


def _fails_if_called(*args):
    raise AssertionError('the fused step ran under torch.compile')


@pytest.mark.parametrize('norm_eval', [True, False])
def test_fused_se_compiles_as_plain_operations_on_large_maps(
        monkeypatch, norm_eval):
    """On large feature maps (here stage 1, 2x16x16 = 512 positions, with
    the threshold lowered to 200) the compiled backbone runs the fused step
    without its autograd Functions, after frozen and live BatchNorm, and
    agrees with eager in outputs and gradients."""
    torch.manual_seed(0)
    model = SEResNet(depth=18, norm_eval=norm_eval, frozen_stages=-1)
    model.init_weights()
    randomize_norms(model)
    model.train()
    x = torch.randn(2, 3, 64, 64)
    refs = model(x)
    ref_grad = torch.autograd.grad(refs[0].sum(),
                                   model.layer1[0].se.fc1.weight)
    torch._dynamo.reset()
    monkeypatch.setattr(seresnet_module, 'COMPILED_FUSED_MIN_PIXELS', 200)
    calls = []
    fused_step = seresnet_module.se_norm_residual_relu
    monkeypatch.setattr(seresnet_module, 'se_norm_residual_relu',
                        lambda *args: calls.append(1) or fused_step(*args))
    for function in (se_fused._ScaledResidualReLU, se_fused._SampleMoments):
        monkeypatch.setattr(function, 'apply', _fails_if_called)
    compiled = torch.compile(model, backend='aot_eager', fullgraph=True)
    outs = compiled(x)
    # The two stage-1 blocks; the smaller maps of stages 2-4 do not.
    assert len(calls) == 2
    for out, ref in zip(outs, refs):
        assert_equal_to_scale(out, ref)
    grad = torch.autograd.grad(outs[0].sum(), model.layer1[0].se.fc1.weight)
    assert_equal_to_scale(grad[0], ref_grad[0])


@pytest.mark.parametrize('depth', [18, 50])
def test_fused_backbone_traces_saves_and_reloads_exactly(depth, tmp_path):
    """TorchScript cannot hold a Python autograd Function: a traced model
    of the fused step (gradients enabled, as a deployment script leaves
    them) saves and reloads bit for bit, and gives the eager outputs to
    float rounding (a trace averages conv3's output where eager may
    average its input through the weight: same sum, other order)."""
    torch.manual_seed(0)
    model = SEResNet(depth=depth, zero_init_residual=False)
    model.init_weights()
    randomize_norms(model)
    model.eval()
    assert model.layer2[0].se_fuses_with_last_norm()
    x = torch.randn(1, 3, 72, 88)
    traced = torch.jit.trace(model, x)
    traced.save(str(tmp_path / 'seresnet.pt'))
    loaded = torch.jit.load(str(tmp_path / 'seresnet.pt'))
    for out, traced_out, ref in zip(loaded(x), traced(x), model(x)):
        assert torch.equal(out, traced_out)
        assert_equal_to_scale(out, ref)


def test_fused_se_under_autocast_keeps_the_feature_dtype():
    """Mixed precision (CPU bfloat16 autocast): the fused step returns what
    the straightforward block returns, in the same dtype, and trains."""
    torch.manual_seed(0)
    fused = SEResNet(depth=18, frozen_stages=1)
    fused.init_weights()
    straightforward = SEResNet(depth=18, frozen_stages=1, fuse_se=False)
    straightforward.load_state_dict(fused.state_dict())
    fused.train()
    straightforward.train()
    x = torch.randn(2, 3, 64, 64)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = fused(x)
        refs = straightforward(x)
    for out, ref in zip(outs, refs):
        assert out.dtype == ref.dtype
        assert_equal_to_scale(out.float(), ref.float(), tol=2e-2)
    outs[-1].float().sum().backward()
    assert fused.layer4[1].se.fc1.weight.grad is not None


def test_timm_depths():
    assert {
        depth: (block, blocks)
        for depth, (block, blocks) in SEResNet.arch_settings.items()
        if depth in (26, 200, 201, 269)
    } == {
        26: (SEBottleneck, (2, 2, 2, 2)),
        200: (SEBottleneck, (3, 24, 36, 3)),
        201: (SEBottleneck, (3, 24, 36, 4)),
        269: (SEBottleneck, (3, 30, 48, 8)),
    }
    # The deepest ones are built by the timm parity tests (201); 26 here.
    model = SEResNet(depth=26)
    assert [len(getattr(model, f'layer{i}')) for i in range(1, 5)] == [
        2, 2, 2, 2]


def test_tiered_deep_stem():
    # timm's "t" stem: 3x3/2 (24) -> 3x3 (32) -> 3x3 (64), MMDetection's
    # deep-stem layout and keys.
    model = SEResNet(
        depth=26, deep_stem=True, stem_channels=64, stem_widths=(24, 32),
        avg_down=True, frozen_stages=1)
    convs = [m for m in model.stem if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (3, 24, 2), (24, 32, 1), (32, 64, 1)]
    assert {k.rsplit('.', 1)[0] for k in model.state_dict()
            if k.startswith('stem.')} == {
                'stem.0', 'stem.1', 'stem.3', 'stem.4', 'stem.6', 'stem.7'}
    model.train()
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not model.stem[1].training
    feats = model(torch.rand(1, 3, 64, 64))
    assert feats[0].shape == (1, 256, 16, 16)


def test_anti_alias_downsamples_by_average_pooling():
    model = SEResNet(depth=50, anti_alias=True, stem_pool='avg',
                     deep_stem=True, avg_down=True, with_cp=True).eval()
    assert isinstance(model.maxpool, nn.AvgPool2d)
    first = model.layer2[0]
    assert first.conv2.stride == (1, 1)
    assert isinstance(first.aa, nn.AvgPool2d) and first.aa.stride == 2
    assert model.layer2[1].aa is None and model.layer1[0].aa is None
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        feats = model(x)
        # The block: stride-1 3x3, its ReLU, then the 2x2 average pool.
        y = model.maxpool(model.stem(x))
        y = model.layer1(y)
        head = first.relu(first.norm2(first.conv2(
            first.relu(first.norm1(first.conv1(y))))))
        pooled = nn.functional.avg_pool2d(head, 2)
        assert torch.equal(first.residual_head(y), pooled)
    assert [f.shape[-1] for f in feats] == [16, 8, 4, 2]


def test_relu_before_se_takes_the_straightforward_path():
    model = SEResNet(depth=18, relu_before_se=True).eval()
    block = model.layer1[0]
    assert not block.se_fuses_with_last_norm()
    x = torch.randn(1, 64, 8, 8)
    with torch.no_grad():
        branch = block.relu(block.norm2(block.conv2(block.residual_head(x))))
        expected = block.relu(block.se(branch) + x)
        assert torch.allclose(block(x), expected)


def test_seresnet_reports_the_arguments_its_weights_must_match():
    """What the pretrained-weight loader checks converted weights against:
    the type and every convention-bearing argument, as built."""
    backbone = SEResNet(depth=18, style='caffe', stem_pool='caffe',
                        se_ratio=8, deep_stem=True, stem_widths=(24, 32),
                        avg_down=True, relu_before_se=True,
                        always_project=True)
    assert backbone.weight_conventions() == dict(
        type='SEResNet', depth=18, style='caffe', stem_pool='caffe',
        se_ratio=8, deep_stem=True, stem_channels=64, stem_widths=(24, 32),
        avg_down=True, anti_alias=False, relu_before_se=True,
        always_project=True)
    anti_aliased = SEResNet(depth=50, anti_alias=True, stem_pool='avg')
    assert anti_aliased.weight_conventions()['anti_alias'] is True


def test_seresnet_starts_every_se_module_near_identity():
    backbone = SEResNet(depth=18)
    backbone.start_se_near_identity()
    modules = [m for m in backbone.modules()
               if isinstance(m, SqueezeExcitation)]
    assert len(modules) == 8
    for module in modules:
        assert torch.all(module.fc2.weight == 0)
        torch.testing.assert_close(torch.sigmoid(module.fc2.bias),
                                   torch.full_like(module.fc2.bias, 0.995))
