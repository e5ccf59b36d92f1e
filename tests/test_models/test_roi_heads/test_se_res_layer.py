import pytest
import torch

from mmdet.models.roi_heads.shared_heads import ResLayer
from senet_mmdet.models import SEBottleneck, SEResLayer, SEResNet


@pytest.mark.parametrize('depth, blocks', [(50, 3), (101, 3), (152, 3)])
def test_head_is_the_se_backbone_conv5(depth, blocks):
    head = SEResLayer(depth, style='caffe')
    backbone = SEResNet(depth, style='caffe')
    backbone_conv5 = {
        key: value.shape
        for key, value in backbone.state_dict().items()
        if key.startswith('layer4.')
    }
    assert {k: v.shape for k, v in head.state_dict().items()
            } == backbone_conv5
    assert len(head.layer4) == blocks
    assert all(isinstance(block, SEBottleneck) for block in head.layer4)
    # Caffe style: the stride sits in the first 1x1, as in the backbone.
    assert head.layer4[0].conv1.stride == (2, 2)
    assert head.layer4[0].se.fc1.out_channels == 2048 // 16


def test_loads_se_backbone_conv5_and_computes_the_same():
    torch.manual_seed(0)
    backbone = SEResNet(50).eval()
    head = SEResLayer(50).eval()
    conv5 = {
        key: value
        for key, value in backbone.state_dict().items()
        if key.startswith('layer4.')
    }
    head.load_state_dict(conv5, strict=True)
    rois = torch.rand(4, 1024, 14, 14)
    with torch.no_grad():
        torch.testing.assert_close(head(rois), backbone.layer4(rois))
    assert head(rois).shape == (4, 2048, 7, 7)


def test_keeps_the_plain_head_behaviour():
    head = SEResLayer(50, se_ratio=8, norm_eval=True)
    assert isinstance(head, ResLayer)
    assert head.layer4[0].se.fc1.out_channels == 2048 // 8
    head.train()
    assert not head.layer4[0].bn1.training
    assert head.layer4[0].se.fc1.weight.requires_grad
    head.init_weights()


@pytest.mark.parametrize('kwargs, message', [
    (dict(depth=18), r'SEResLayer: depth=18 is not supported; choose one '
     r'of \(50, 101, 152\)'),
    (dict(depth=50, se_ratio=0), 'SEResLayer: se_ratio=0 must be a positive'),
    (dict(depth=50, se_gate='relu'), 'SEResLayer: se_gate=.relu. is not'),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SEResLayer(**kwargs)


def test_train_and_eval_return_the_head():
    head = SEResLayer(50)
    assert head.eval() is head
    assert head.train() is head


def test_reports_the_se_resnet_arguments_that_shape_its_stage():
    """The head takes SE-ResNet's conv5 weights: their conventions are
    checked against the arguments the head shares with that backbone."""
    head = SEResLayer(depth=101, style='caffe', se_ratio=8)
    assert head.weight_conventions() == dict(
        type='SEResNet', depth=101, style='caffe', se_ratio=8)


def test_starts_every_se_module_near_identity():
    head = SEResLayer(depth=50)
    head.start_se_near_identity()
    for block in head.layer4:
        assert torch.all(block.se.fc2.weight == 0)
        torch.testing.assert_close(torch.sigmoid(block.se.fc2.bias),
                                   torch.full_like(block.se.fc2.bias, 0.995))
